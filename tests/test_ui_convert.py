"""The Convert tab in a real Chromium: a tiny real checkpoint → GGUF, shown in the picker."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedchat.models import read_gguf_info
from tests.browser import screenshot
from tests.tiny_checkpoints import make_checkpoint

pytestmark = pytest.mark.slow


def test_convert_a_checkpoint_and_find_it_in_the_picker(page, tmp_path: Path, seedchat_home):
    ckpt = make_checkpoint(tmp_path / "tiny-seed", kind="seed_oss")
    # the app's first model loaded: when it is, the header's refresh shows it in the picker
    # (a load ending after the conversion would show the loaded model there instead)
    page.wait_for_function(
        "!document.querySelector('#model-status').innerText.includes('oading')", timeout=120_000
    )
    page.get_by_role("tab", name="Convert").click()
    page.locator("#convert-source textarea, #convert-source input").first.fill(str(ckpt))
    quant = page.locator("#convert-quant input")
    quant.click()
    quant.fill("F16")
    page.get_by_role("option", name="F16", exact=True).click()
    page.locator("#convert-start").click()
    progress = page.locator("#convert-progress")
    progress.get_by_text("Done:").wait_for(timeout=120_000)
    screenshot(page, "ui-convert-done")
    out = seedchat_home / "data" / "models" / "tiny-seed-F16.gguf"
    assert out.is_file()
    info = read_gguf_info(out)
    assert info.architecture == "seed_oss" and info.quantization == "F16"
    assert page.locator("#convert-progress progress").get_attribute("value") == "100.0"
    page.get_by_role("tab", name="Models").click()
    assert page.locator("#model-picker input").input_value() == "tiny-seed"  # its name
    assert not page.locator("#error-box").is_visible()


def test_convert_errors_show_in_the_page(page, tmp_path: Path):
    page.get_by_role("tab", name="Convert").click()
    missing = tmp_path / "no-such-folder"
    page.locator("#convert-source textarea, #convert-source input").first.fill(str(missing))
    page.locator("#convert-start").click()
    error = page.locator("#error-box")
    error.get_by_text("neither a checkpoint folder").wait_for(timeout=30_000)
    screenshot(page, "ui-convert-error")


def test_cancel_a_conversion_leaves_nothing(page, tmp_path: Path, seedchat_home):
    """A conversion big enough to watch (a random bf16 Seed-OSS of ~150 MB → Q4_K_M),
    cancelled from the page once its progress bar moves: no model file, no temp file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_synth", Path(__file__).resolve().parents[1] / "benchmarks" / "_synth.py"
    )
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    ckpt = synth.write_checkpoint(
        tmp_path / "big-seed", hidden=1024, layers=16, ff=2816, heads=8, kv_heads=2, seed=3
    )
    page.get_by_role("tab", name="Convert").click()
    page.locator("#convert-source textarea, #convert-source input").first.fill(str(ckpt))
    page.locator("#convert-start").click()
    page.wait_for_function(
        "Number(document.querySelector('#convert-progress progress')?.value || 0) > 0",
        timeout=120_000,
    )
    page.locator("#convert-cancel").click()
    page.locator("#convert-progress").get_by_text("Cancelled").wait_for(timeout=60_000)
    screenshot(page, "ui-convert-cancelled")
    assert "no file was written" in page.locator("#convert-progress").inner_text()
    assert not page.locator("#error-box").is_visible()
    models = seedchat_home / "data" / "models"
    assert not list(models.glob("big-seed*")), list(models.iterdir())
    assert not [p for p in models.iterdir() if p.name.startswith(".")]
