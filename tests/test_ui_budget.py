"""The Budget tab in the real page (Chromium) on the bundled demo model: a small sweep
runs, the three plots render (and the model card's curves when the loaded model has
Seed-OSS-36B's shape: a stand-in of its header), Stop stops, Save as preset makes the
preset, and the sweep is listed after a reload.

``SEEDCHAT_DOCS_SCREENSHOT=1`` also writes the tab's picture for the README
(``docs/budget-tab.png``)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from seedchat.store import Store, Sweeps
from tests.browser import screenshot

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
WORDS = ["apple", "river"]


def open_tab(page) -> None:
    page.get_by_role("tab", name="Budget").click()
    page.wait_for_selector("#budget-run", state="visible")


def progress_says(page, *words: str, timeout: int = 240_000) -> None:
    """Until the progress holds one of ``words`` (a fast reply may replace "Starting" with
    its count before a frame shows it)."""
    page.wait_for_function(
        "ws => { const p = document.querySelector('#budget-progress');"
        " return ws.some(w => (p ? p.innerText : '').includes(w)); }",
        arg=list(words),
        timeout=timeout,
    )


def set_text(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def series(page, plot: str, kind: str) -> list[str]:
    return page.eval_on_selector_all(
        f"#{plot} g.series.{kind}", "els => els.map(e => e.dataset.label)"
    )


def test_a_small_sweep_in_the_page(app, page, tmp_path):
    questions = tmp_path / "words.jsonl"
    questions.write_text(
        "".join(
            json.dumps(
                {"question": f"Say the word {w}.", "answer": w.capitalize(), "check": "exact"}
            )
            + "\n"
            for w in WORDS
        )
    )
    open_tab(page)
    page.locator("#budget-file input[type=file]").set_input_files(str(questions))
    set_text(page, "budget-budgets", "0,512")
    page.locator("#budget-run").click()
    progress_says(page, "Done: 4 replies")
    for plot in ("plot-accuracy", "plot-seconds", "plot-thinking"):
        assert series(page, plot, "mine"), plot
        assert page.locator(f"#{plot} g.series.mine circle").count() == 2  # one per budget
    assert series(page, "plot-accuracy", "official") == []  # the demo is no Seed-OSS-36B
    ticks = page.eval_on_selector_all(
        "#plot-accuracy text.tick", "els => els.map(e => e.textContent)"
    )
    assert ticks == ["512", "0"]  # 0 one log step left of the smallest budget
    assert page.locator("#budget-table tbody tr").count() == 2
    assert "Recommended budget" in page.locator("#budget-recommendation").inner_text()

    set_text(page, "budget-preset-name", "words lab")
    page.locator("#budget-save-preset").click()
    page.wait_for_function(
        "() => document.querySelector('#budget-recommendation').innerText.includes('Saved the preset')"
    )
    saved = json.loads((app.home / "config" / "presets.json").read_text())
    preset = next(p for p in saved["presets"] if p["name"] == "words lab")
    assert preset["settings"]["budget"] in (0, 512)

    # the loaded model reports Seed-OSS-36B's shape (a stand-in of its header): the model
    # card's curves are drawn beside the user's, lighter and labelled
    info = app.host.info
    shape = {"seed_oss.embedding_length": 5120}
    app.host.info = dataclasses.replace(info, block_count=64, metadata={**info.metadata, **shape})
    try:
        page.locator("#budget-open").click()
        page.wait_for_function(
            "() => document.querySelectorAll('#plot-accuracy g.official').length == 3"
        )
        labels = series(page, "plot-accuracy", "official")
        assert all("Seed-OSS-36B model card" in label for label in labels)
        assert {label.split(" (")[0] for label in labels} == {
            "AIME24",
            "LiveCodeBench v6",
            "IFEval",
        }
        assert page.locator("#plot-accuracy g.official polyline[opacity]").count() == 3
        shot = screenshot(page, "budget-tab")
        if os.environ.get("SEEDCHAT_DOCS_SCREENSHOT"):
            shutil.copy(shot, REPO / "docs" / "budget-tab.png")
    finally:
        app.host.info = info


def test_stop_stops_and_the_sweep_is_listed_after_a_reload(app, new_page):
    page = new_page()
    open_tab(page)
    page.locator("#budget-set input").click()
    page.get_by_role("option", name="demo", exact=True).click()
    set_text(page, "budget-budgets", "1024")
    page.locator("#budget-run").click()
    progress_says(page, "Starting", "replies")
    page.locator("#budget-stop").click()
    progress_says(page, "Stopped")
    with _store(app) as store:
        records = Sweeps(store.db).list()
    stopped = [r for r in records if r.set_name == "demo"]
    assert stopped and stopped[0].status == "stopped" and stopped[0].done < 15

    again = new_page(fresh=False)  # a reload
    open_tab(again)
    again.locator("#budget-past input").click()
    options = again.get_by_role("option").all_inner_texts()
    assert any(o.startswith("demo ·") and "stopped" in o for o in options)
    assert any(o.startswith("words.jsonl ·") for o in options), options


def _store(app) -> Store:
    return Store(next(app.home.rglob("*.db")))
