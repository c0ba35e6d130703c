"""A file beyond what any context plan holds, in the page (real app, real Chromium, the
bundled demo model trained for 8,192 tokens, on the real llama.cpp): the page says it does
not fit, offers no plan but the passages that match; that button answers from them with
the footer naming them; a follow-up in the tab keeps those passages; reopened after a
restart, the earlier file goes as the passages matching both questions, said on the
answer, and no turn is left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from contract_text import FOLLOW_UP, PLANTED, QUESTION, SECOND, filler, with_second

from tests.browser import Pages, running_app, screenshot, send, wait_done, wait_meter

pytestmark = pytest.mark.slow

LOADED = 4096
AGAIN = "And where is the lighthouse's spare key kept?"


def last_prompt(app) -> str:
    """The text of the prompt the model last answered (up to its reply)."""
    return app.host.engine._last_reply.head


def chat_text(page) -> str:
    """The chat's text: questions, answers and what is said on them."""
    return page.locator("#chatbot").inner_text()


def test_a_file_no_plan_holds_is_answered_from_passages_and_again_after_reopening(
    browser, tmp_path: Path
):
    home = tmp_path / "home"
    settings = home / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        json.dumps({"thinking_budget": 0, "max_tokens": 16, "context_length": LOADED})
    )
    upload = tmp_path / "contract.txt"
    upload.write_text(with_second(filler(3000)), encoding="utf-8")
    with running_app(home, port=7912) as app:
        assert app.host.wait_loaded(120) and app.host.engine.n_ctx == LOADED
        with Pages(browser, app.url) as pages:
            page = pages()
            page.locator("#message textarea").fill(QUESTION)
            page.locator("#message input[type=file]").set_input_files(str(upload))
            shown = wait_meter(page, "Does not fit")
            assert "Or answer from the passages of the files that match the question." in shown
            passages = page.locator("#context-passages")
            passages.wait_for()
            assert not page.locator("#context-plan-0").is_visible()  # beyond 8,192 trained
            screenshot(page, "passages-offered")

            # Send as it is is refused, and says where the way out is
            page.locator("#send").click()
            error = page.locator("#error-box")
            error.get_by_text("answer from the passages that match").wait_for(timeout=30_000)
            assert app.host.engine._last_reply is None  # nothing was sent to the model
            passages.wait_for()  # the message and its file are back in the box

            passages.click()
            stats = wait_done(page)
            footer = page.locator("#chatbot").get_by_text("Answered from 1 passage of contract.txt")
            footer.wait_for()
            assert "the whole document was not read" in chat_text(page)
            prompt = last_prompt(app)
            assert PLANTED in prompt and "(the whole file was not read)]" in prompt
            screenshot(page, "passages-answered")

            # a follow-up in the same tab: the earlier passages stay as they were
            send(page, FOLLOW_UP)
            wait_done(page, previous=stats)
            assert last_prompt(app).startswith(prompt)  # the cache's prefix, unchanged
            assert "left out" not in chat_text(page)
            assert "no longer fits whole" not in chat_text(page)

    # restarted: which passages were used is not saved; the file is not put back whole
    with running_app(home, port=7912) as app:
        assert app.host.wait_loaded(120)
        with Pages(browser, app.url) as pages:
            page = pages()
            page.locator("#conversation-list label", has_text=QUESTION[:20]).first.click()
            page.locator("#chatbot").get_by_text(FOLLOW_UP).wait_for(timeout=30_000)
            send(page, AGAIN)
            wait_done(page)
            said = page.locator("#chatbot").get_by_text("no longer fits whole beside this one")
            said.wait_for(timeout=30_000)
            answer = chat_text(page)
            assert "using 2 passages of contract.txt (lines " in answer
            assert "left out" not in answer
            assert "busy with another chat" not in answer  # the meter's count is a moment
            prompt = last_prompt(app)
            assert prompt.count(QUESTION) == prompt.count(FOLLOW_UP) == prompt.count(AGAIN) == 1
            assert PLANTED in prompt and SECOND in prompt
            screenshot(page, "passages-reopened")
