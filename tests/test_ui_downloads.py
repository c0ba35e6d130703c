"""Getting a real model from the page, in a real Chromium, from a stand-in hub on a loopback
port (tests/hub_standin.py): the first-run panel over the demo model, a download with its
progress, the new model loaded with one click and answering; the Models tab's "Download
from the hub" box with what fits, cancel and resume.

The "real" model is a copy of the demo model renamed "Seed-OSS-36B-Instruct standin",
served under the catalog's repository for Seed-OSS-36B-Instruct in every quantization (so
whichever fits the machine running the test is there). Screenshots land in
artifacts/screenshots/.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from hub_standin import StandInHub, write_model_gguf

from seedchat.hub.catalog import find_model
from seedchat.hub.download import PartInfo, part_paths
from seedchat.models import demo_model
from tests.browser import Pages, running_app, screenshot, send, wait_done

pytestmark = pytest.mark.slow

SEED = find_model("seed-oss-36b-instruct")
NAME = b"Seed-OSS-36B-Instruct standin"


def standin_model() -> bytes:
    data = demo_model().read_bytes()
    demo_name = b"seedchat demo (tiny Seed-OSS)"
    assert len(demo_name) == len(NAME) and data.count(demo_name) == 1
    return data.replace(demo_name, NAME)  # same length: still a valid GGUF


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "hf" / "agents.json"))
    model = standin_model()
    files = {f"Seed-OSS-36B-Instruct-{q}.gguf": model for q in SEED.quant_bytes}
    tiny = write_model_gguf(tmp_path / "tiny.gguf", payload_bytes=3_000_000)
    with StandInHub() as standin:
        standin.add_repo(SEED.gguf_repo, files)
        standin.add_repo("tester/Tiny-GGUF", {"Tiny-Q4_K_M.gguf": tiny})
        for name in files:
            standin.throttle[name] = 1_500_000  # bytes/s: a few seconds to watch
        standin.throttle["Tiny-Q4_K_M.gguf"] = 1_000_000
        monkeypatch.setenv("HF_ENDPOINT", standin.url)
        yield standin


@pytest.fixture
def app_pages(browser, hub, tmp_path: Path):
    with running_app(tmp_path / "home", port=7890) as app, Pages(browser, app.url) as pages:
        app.host.wait_loaded(120)
        yield app, pages


def test_first_run_panel_downloads_a_real_model_that_loads_and_answers(app_pages, hub):
    app, pages = app_pages
    page = pages()
    panel = page.locator("#first-run")
    panel.get_by_text("A tiny demo model").wait_for(timeout=20_000)
    row = page.locator(f"#first-run-{SEED.id}")
    row.get_by_text("GB").first.wait_for(timeout=20_000)  # the size and the fit, filled in
    text = row.inner_text()
    assert "Seed-OSS-36B-Instruct" in text and ("fits" in text or "does not fit" in text)
    for model_id in ("seed-coder-8b-instruct", "seed-coder-8b-reasoning"):
        assert page.locator(f"#first-run-{model_id}").is_visible()
    page.get_by_text("Base models (text completion, not chat)").click()
    page.locator("#first-run-seed-oss-36b-base").wait_for(timeout=10_000)
    assert page.locator("#convert-seed-oss-36b-base").is_visible()
    assert not page.locator("#download-seed-oss-36b-base").is_visible()  # convert only
    screenshot(page, "ui-first-run-panel")

    page.locator(f"#download-{SEED.id}").click()
    progress = page.locator("#first-run-progress")
    progress.get_by_text("Downloading Seed-OSS-36B-Instruct-").wait_for(timeout=20_000)
    page.wait_for_function(
        "Number(document.querySelector('#first-run-progress progress')?.value || 0) > 0"
    )
    screenshot(page, "ui-first-run-downloading")
    progress.get_by_text("Downloaded").wait_for(timeout=60_000)
    load = page.locator("#first-run-load")
    load.wait_for(timeout=10_000)
    screenshot(page, "ui-first-run-downloaded")
    load.click()
    page.locator("#model-status").get_by_text("Seed-OSS-36B-Instruct standin").wait_for(
        timeout=60_000
    )
    assert app.host.info.path.parent == app.home / "data" / "models"
    assert app.host.info.path.name.startswith("Seed-OSS-36B-Instruct-")
    panel.wait_for(state="hidden", timeout=10_000)  # no longer the demo model
    send(page, "What is 12 + 7?")
    wait_done(page)
    answer = page.locator("#chatbot [data-testid=bot]").last.inner_text().strip()
    assert answer
    assert not page.locator("#error-box").is_visible()
    screenshot(page, "ui-first-run-loaded-answers")


def test_a_download_left_by_an_earlier_run_resumes_convert_and_dismiss(app_pages, hub):
    """What an interrupted download left (as after a restart) is offered as "Resume
    download" and resumed; Convert opens the Convert tab filled in; ✕ hides the panel
    for good (in this browser)."""
    app, pages = app_pages
    name = "Seed-OSS-36B-Instruct-Q4_K_M.gguf"
    model = hub.repos[SEED.gguf_repo].files[name]
    final = app.home / "data" / "models" / name
    part, meta = part_paths(final)
    sha = hashlib.sha256(model).hexdigest()
    info = PartInfo(SEED.gguf_repo, name, len(model), sha, hub.repos[SEED.gguf_repo].sha)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(model[:1_000_000])
    meta.write_text(json.dumps(dataclasses.asdict(info)))
    page = pages()
    row = page.locator(f"#first-run-{SEED.id}")
    row.get_by_text("downloaded").wait_for(timeout=20_000)
    assert "Q4_K_M · 20.3 GB" in row.inner_text()  # the file being downloaded, its full size
    whole = f"{len(model) / 1024**2:.1f} MB"  # the stand-in file (the demo model's size)
    assert f"976.6 KB of {whole} downloaded" in row.inner_text()
    resume = page.locator(f"#download-{SEED.id}")
    assert resume.inner_text().strip() == "Resume download"
    screenshot(page, "ui-first-run-resume")
    resume.click()
    page.locator("#first-run-progress").get_by_text("Downloaded").wait_for(timeout=60_000)
    (transfer,) = hub.transfers
    assert (transfer.path, transfer.start) == (name, 1_000_000)
    assert final.read_bytes() == model and not part.exists() and not meta.exists()

    page.locator(f"#convert-{SEED.id}").click()
    page.wait_for_function(
        "document.querySelector('#convert-source textarea, #convert-source input')?.value"
        f" === {SEED.source_repo!r}"
    )
    page.get_by_role("tab", name="Chat").click()
    page.locator("#first-run-dismiss").click()
    page.locator("#first-run").wait_for(state="hidden", timeout=10_000)
    page.reload()
    page.wait_for_selector("#chatbot")
    page.wait_for_timeout(1500)  # the page has loaded its state: the panel stays away
    assert not page.locator("#first-run").is_visible()


def test_models_tab_downloads_any_repo_with_cancel_and_resume(app_pages, hub):
    app, pages = app_pages
    page = pages()
    page.get_by_role("tab", name="Models").click()
    page.locator("#hub-repo textarea, #hub-repo input").first.fill("tester/Tiny-GGUF")
    page.locator("#hub-list").click()
    offers = page.locator("#hub-offers")
    offers.get_by_text("best fit").wait_for(timeout=30_000)
    assert "Q4_K_M" in offers.inner_text()
    page.locator("#hub-download").click()
    page.wait_for_function(
        "Number(document.querySelector('#hub-progress progress')?.value || 0) > 20"
    )
    page.locator("#hub-cancel").click()
    page.locator("#hub-progress").get_by_text("Cancelled").wait_for(timeout=20_000)
    assert "is kept" in page.locator("#hub-progress").inner_text()
    screenshot(page, "ui-hub-cancelled")
    hub.reset_counts()
    hub.throttle.clear()
    page.locator("#hub-download").click()
    page.locator("#hub-progress").get_by_text("Downloaded").wait_for(timeout=30_000)
    (transfer,) = [t for t in hub.transfers if t.sent > 100_000]
    assert transfer.start > 0  # resumed, not started over
    assert (app.home / "data" / "models" / "Tiny-Q4_K_M.gguf").is_file()
    page.locator("#hub-load").wait_for(timeout=10_000)
    screenshot(page, "ui-hub-downloaded")
