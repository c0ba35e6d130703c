"""Instant reopen in the browser: a long conversation, the app restarted, the conversation
opened from the sidebar; the footer says how much of the prompt was restored, and the
answer arrives. And the header's Cancel button while a model loads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from seedchat.engine.kv_files import SUFFIX
from seedchat.engine.load_progress import LoadCancelled
from tests.browser import Pages, running_app, screenshot, send, wait_done

LONG = (
    "Please keep this list in mind. "
    + " ".join(f"Item {i} is a small red apple from the orchard." for i in range(80))
    + " How many items are there?"
)


def test_a_reopened_conversation_restores_its_state(browser, tmp_path: Path):
    home = tmp_path / "home"
    settings = home / "config" / "settings.json"  # short answers: the test is the reopening
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"thinking_budget": 0, "max_tokens": 48}))
    with running_app(home, port=7895) as app, Pages(browser, app.url) as pages:
        page = pages()
        send(page, LONG)
        first = wait_done(page)
        assert "restored" not in first and "evaluated" in first
        snapshots = app.host.engine.snapshots
        app.host.unload()  # the engine's end: its last state is on disk
    assert list(snapshots.folder.glob("*" + SUFFIX))
    with running_app(home, port=7895) as app, Pages(browser, app.url) as pages:
        page = pages()  # a new chat: the conversation is opened from the sidebar
        page.locator("#conversation-list label", has_text="Please keep this list").click()
        page.get_by_text("How many items are there?").first.wait_for()
        send(page, "And which item comes after item 7?")
        stats = wait_done(page)
        screenshot(page, "reopen-restored")
        done = app.host.engine.last_turn
        assert done.restored_tokens > 0
        assert f"restored {done.restored_tokens:,} · evaluated " in stats
        answers = page.locator("#chatbot [data-testid=bot]")
        assert answers.count() >= 2
        # the answer is drawn: text, or a list whose marker is all its text (the demo model
        # samples: "2." is an ordered list's marker, which has no inner text)
        drawn = "e => e.innerText.trim() !== '' || e.querySelector('li') !== null"
        assert answers.last.evaluate(drawn)
        app.host.unload()


def test_the_header_shows_a_load_and_cancels_it(browser, tmp_path: Path):
    with running_app(tmp_path / "home", port=7896) as app, Pages(browser, app.url) as pages:
        host = app.host
        assert host.wait_loaded(60)
        loaded = host.engine
        released, outcome = threading.Event(), []

        def slow_disk(share: float) -> None:  # llama.cpp's load waits here (a slow disk)
            released.wait(60)

        def load() -> None:
            try:
                host.load(loaded.path, remember=False, progress=slow_disk)
            except LoadCancelled as err:
                outcome.append(err)

        loading = threading.Thread(target=load)
        loading.start()
        try:
            page = pages()
            status = page.locator("#model-status")
            status.get_by_text("Loading").wait_for(timeout=15_000)
            # the share loaded, once the page has polled (it opens with the line it was
            # built with, which may be of the load at the app's start)
            status.get_by_text("%").wait_for(timeout=15_000)
            assert "▱" in status.inner_text()
            cancel = page.locator("#cancel-load")
            cancel.wait_for(state="visible", timeout=15_000)
            screenshot(page, "load-progress-and-cancel")
            cancel.click()
            cancel.wait_for(state="hidden", timeout=15_000)
            # the load has not stopped yet (the disk is slow): the header's polls, a second
            # apart, do not bring the button back meanwhile
            page.wait_for_timeout(2500)
            assert not cancel.is_visible()
        finally:
            released.set()
            loading.join(60)
        assert outcome and isinstance(outcome[0], LoadCancelled)
        assert host.engine is loaded and host.loading is None
        page.locator("#model-status").get_by_text("seedchat demo").wait_for(timeout=15_000)
        host.unload()
