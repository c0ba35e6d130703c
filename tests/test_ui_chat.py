"""Chatting in the real app with the bundled demo model, in a real headless Chromium.

Each test opens a new page (a new session, an empty chat). Screenshots land in
artifacts/screenshots/.
"""

from __future__ import annotations

import itertools
import re
import statistics

import httpx
import pytest

from seedchat.store import Store
from tests.browser import page_events, screenshot, send, set_budget, wait_done, wait_meter
from tests.page_script import settled

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def model_loaded(app):
    """Fail at once, saying why, when the app has no model (rather than time out)."""
    app.host.wait_loaded(120)
    assert app.host.engine is not None, (
        f"the app has no model ({app.host.error}); the bundled demo model is built by "
        "packaging/demo_model/build.py, or set SEEDCHAT_TEST_MODEL"
    )


# Records the thinking block's title and state at every change of the chat.
WATCH = """
() => {
  window.__titles = [];
  const chat = document.querySelector('#chatbot');
  const look = () => {
    const t = chat.querySelector('.thought-group .title');
    if (!t) return;
    const entry = (t.classList.contains('expanded') ? 'open|' : 'closed|') + t.innerText.trim();
    if (window.__titles[window.__titles.length - 1] !== entry) window.__titles.push(entry);
  };
  new MutationObserver(look).observe(chat, {subtree: true, childList: true, characterData: true,
                                             attributes: true});
}
"""


def test_budget_512_thinking_block_counts_collapses_and_answers(page, outside_requests):
    """The demo model is tiny and stochastic: a reply that happens to think only a few
    tokens is asked again (in a new chat, up to 3 times) before judging the counter."""
    set_budget(page, 512)
    stats, titles = "", []
    for _attempt in range(3):
        page.locator("#new-chat").click()
        page.evaluate(WATCH)
        send(page, "What is 12 plus 30?")
        page.locator("#chatbot .thought-group").last.wait_for(timeout=60_000)
        screenshot(page, "chat-512-thinking")
        stats = wait_done(page, previous=stats)
        titles = page.evaluate("window.__titles")
        live = [t for t in titles if t.startswith("open|Thinking · ")]
        if len({t.split("·")[1].strip() for t in live}) >= 3:
            break
    live = [t for t in titles if t.startswith("open|Thinking · ")]
    counts = {t.split("·")[1].strip() for t in live}
    # the true count against the budget, changing while the model thinks
    assert all("/ 512 tokens" in t for t in live), live
    assert len(counts) >= 3, titles
    final = titles[-1]
    assert final.startswith("closed|Thought for "), titles
    assert "/ 512 tokens" in final
    # the block collapsed, the answer below it shows
    answer = page.locator("#chatbot [data-testid=bot]").last
    assert answer.inner_text().strip()
    assert page.locator("#chatbot .thought-group").count() == 1
    assert not page.locator("#chatbot .thought-group .title.expanded").count()
    assert "thinking" in stats
    screenshot(page, "chat-512-answered")
    assert outside_requests == []


def test_budget_0_gives_no_thinking_block(page):
    set_budget(page, 0)
    send(page, "Say hello.")
    wait_done(page)
    assert page.locator("#chatbot [data-testid=bot]").count() >= 1
    assert page.locator("#chatbot [data-testid=bot]").last.inner_text().strip()
    assert page.locator("#chatbot .thought-group").count() == 0
    screenshot(page, "chat-budget-0")


def test_stop_mid_generation(page):
    """Stop while the model thinks: the turn ends at once, marked as stopped.

    The demo model writes hundreds of tokens a second, so the page itself clicks Stop
    the moment the first thinking text shows (a real click on the real button)."""
    set_budget(page, 1024)
    page.evaluate(
        """() => {
          const chat = document.querySelector('#chatbot');
          const obs = new MutationObserver(() => {
            const bot = chat.querySelector('[data-testid=bot]');
            const started = bot && bot.innerText.trim() && bot.innerText.trim() !== '…';
            if (chat.querySelector('.thought-group .title.expanded') || started) {
              obs.disconnect();
              document.querySelector('#stop').click();
            }
          });
          obs.observe(chat, {subtree: true, childList: true, attributes: true});
        }"""
    )
    send(page, "What is 45 plus 38?")
    stats = wait_done(page, timeout_ms=60_000)
    assert "stopped" in stats
    assert page.locator("#chatbot").get_by_text("— stopped").is_visible()
    if page.locator("#chatbot .thought-group").count():  # stopped while thinking
        title = page.locator("#chatbot .thought-group .title").last.inner_text()
        assert "stopped" in title
    screenshot(page, "chat-stopped")
    # "stopped" in the statistics comes only from the engine's Done(cancelled), and the
    # reply stays short of the model's full answer
    assert "stopped" in stats.rsplit("·", 1)[-1]


def test_two_tabs_one_model_never_mix(app, new_page):
    """Two tabs send at once: one generates, the other is told the model is busy and
    waits; each tab ends with exactly its own question and its own answer."""
    first = new_page()
    second = new_page()
    for page in (first, second):
        set_budget(page, 512)
    send(first, "What is 7 plus 8?")
    first.locator("#chatbot [data-testid=bot]").first.wait_for(timeout=60_000)
    send(second, "Name a colour.")
    wait_done(first)
    wait_done(second)
    for page, mine, other in ((first, "7 plus 8", "colour"), (second, "colour", "7 plus 8")):
        users = page.locator("#chatbot [data-testid=user]")
        assert users.count() == 1
        assert (
            mine in users.first.inner_text() and other not in page.locator("#chatbot").inner_text()
        )
        assert page.locator("#chatbot [data-testid=bot]").last.inner_text().strip()
    # the statistics show at the reply's Done; the model is free once its turn has ended
    settled(app, timeout=30)
    assert app.host.busy is False
    screenshot(second, "chat-second-tab")


def test_edit_last_message_and_regenerate(page):
    set_budget(page, 0)
    send(page, "What is 2 plus 2?")
    stats = wait_done(page)
    page.locator("#edit").click()
    box = page.locator("#message textarea")
    page.wait_for_function(
        "document.querySelector('#message textarea').value === 'What is 2 plus 2?'"
    )
    # the chat and the box change in one update, which the page may draw in two steps
    page.wait_for_function("!document.querySelector('#chatbot [data-testid=user]')")
    assert page.locator("#chatbot [data-testid=user]").count() == 0
    box.fill("What is 3 plus 3?")
    page.locator("#send").click()
    stats = wait_done(page, previous=stats)
    screenshot(page, "chat-edited-resent")
    users = page.locator("#chatbot [data-testid=user]")
    assert users.count() == 1 and "3 plus 3" in users.first.inner_text()
    page.locator("#regenerate").click()
    wait_done(page, previous=stats)
    assert page.locator("#chatbot [data-testid=user]").count() == 1
    # one answer (notices, which start with "ℹ", are messages of their own)
    answers = page.evaluate(
        "[...document.querySelectorAll('#chatbot [data-testid=bot]')]"
        ".map(e => e.innerText.trim()).filter(t => t && !t.startsWith('ℹ'))"
    )
    assert len(answers) == 1, answers
    screenshot(page, "chat-edit-regenerate")


# Records every live title of the thinking block (with its time) and, the moment the
# statistics line appears (it comes with the reply's last streamed update, before the chat
# is drawn again from the store), the text of the model's messages and the title.
FINAL_WATCH = """
() => {
  window.__live = []; window.__atDone = null;
  const chat = document.querySelector('#chatbot');
  const look = () => {
    const t = chat.querySelector('.thought-group .title');
    const title = t ? t.textContent.trim() : '';
    const live = window.__live;
    if (title.startsWith('Thinking ·') && live[live.length - 1]?.[1] !== title)
      live.push([performance.now(), title]);
    const stats = document.querySelector('#turn-stats').textContent;
    if (!window.__atDone && stats.includes('tok/s'))
      window.__atDone = {stats, title,
                         bots: [...chat.querySelectorAll('[data-testid=bot]')].map(b => b.textContent)};
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true,
                                                     characterData: true, attributes: true});
}
"""


def test_a_fast_stream_ends_exactly_as_saved_with_live_counters(app, page):
    """The page draws a streamed reply at a frame rate, not per token (the demo model writes
    about a thousand tokens a second): the last streamed state is the whole reply (the same
    text, title and statistics the store holds), and while thinking the title's counter
    went up, at least four times a second."""
    set_budget(page, 1024)
    page.evaluate(FINAL_WATCH)
    send(page, "What is 27 plus 32?")
    stats = wait_done(page)
    page.wait_for_function("window.__atDone !== null")
    at_done, live = page.evaluate("window.__atDone"), page.evaluate("window.__live")
    final = page.evaluate(
        "[...document.querySelectorAll('#chatbot [data-testid=bot]')].map(b => b.textContent)"
    )
    assert at_done["bots"] == final  # nothing the store has was missing from the stream
    with Store(app.home / "data" / "seedchat.db") as store:
        conv = store.get_conversation(store.list_conversations()[0].id)
    answer = conv.messages[-1]
    assert stats in at_done["stats"]  # the statistics came with the last streamed update
    assert stats.startswith(f"{answer.stats['generated_tokens']} tokens")
    assert f"· {answer.thinking_tokens} / 1024 tokens" in at_done["title"]
    counts = [int(re.search(r"Thinking · (\d+)", title).group(1)) for _, title in live]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    if answer.thinking_tokens >= 500:  # thought long enough to judge the rate
        gaps = [(b[0] - a[0]) / 1000 for a, b in itertools.pairwise(live)]
        assert len(gaps) >= 2 and statistics.median(gaps) <= 0.25, live  # >= 4 a second


def test_the_browser_keeps_no_copy_of_the_conversation(app, new_page):
    """Gradio's run history copied every event's inputs and outputs (the question, the
    reply, a document's text) into the browser's storage, where deleting the conversation
    left them, and rewrote that copy on every streamed update. It is off: after a reply the
    browser's storage holds none of the conversation, a copy an earlier seedchat left there
    is deleted, and gradio's page of past runs is not served."""
    app_id = httpx.get(app.url + "config", timeout=30).json()["app_id"]
    left = f"gradio:run-history:v2:{app_id}"  # as gradio 6 names it
    page = new_page(  # before the page's scripts, once: a history an earlier version kept
        script="if (!sessionStorage.getItem('seeded')) { sessionStorage.setItem('seeded', '1');"
        f" localStorage.setItem({left!r}, JSON.stringify([{{id: 'earlier run'}}])); }}"
    )
    send(page, "Remember the word periwinkle.")
    wait_done(page)
    stored = page.evaluate("() => ({...localStorage})")
    assert left not in stored, stored
    assert not [value for value in stored.values() if "periwinkle" in value], stored
    assert httpx.get(app.url + "gradio_api/runs", timeout=30).status_code == 404


# Records every text the context meter shows, from now on.
METER_WATCH = """
() => {
  window.__meters = [];
  const meter = document.querySelector('#context-meter');
  const look = () => {
    const text = meter.innerText.trim();
    if (window.__meters[window.__meters.length - 1] !== text) window.__meters.push(text);
  };
  look();
  new MutationObserver(look).observe(meter, {subtree: true, childList: true, characterData: true});
}
"""


def _measure_events(app) -> set[int]:
    """The ids of the page's events that count the message box's prompt on the server (the
    context meter's, on a change of the box or of the hidden trigger the box sets)."""
    ids, events = page_events(app.url)
    changes = [[ids.get(name), "change"] for name in ("message", "meter-trigger")]
    return {
        d["id"]
        for d in events
        if d["backend_fn"]
        and ids["context-meter"] in d["outputs"]
        and any(c in d["targets"] for c in changes)
    }


def test_the_box_a_send_empties_is_measured_after_the_answer(app, page):
    """A send empties the message box as it starts; measuring that empty box then would only
    take the model's first moments, and the answer's end measures again. So while the answer
    is written the meter keeps the size of the prompt being answered, and after it shows the
    conversation's, with nothing in between; and the emptied box never reaches the server
    (the browser knows a send emptied it: seedchat.ui.context_meter.MEASURE_JS)."""
    set_budget(page, 1024)
    page.locator("#message textarea").fill("What is 27 plus 32?")
    typed = wait_meter(page, "tokens")
    page.evaluate(METER_WATCH)
    box_measures, joined = _measure_events(app), []
    page.on("request", lambda r: "queue/join" in r.url and joined.append(r.post_data_json))
    page.locator("#send").click()
    wait_done(page)
    page.wait_for_function(
        "([typed]) => document.querySelector('#context-meter').innerText.trim() !== typed",
        arg=[typed.strip()],
    )
    page.wait_for_timeout(1000)  # a later count would show here
    shown = page.evaluate("window.__meters")
    assert len(shown) == 2 and shown[0] == typed.strip(), shown
    assert "tokens" in shown[1], shown
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").all_inner_texts()
    assert box_measures and not [j for j in joined if j["fn_index"] in box_measures], joined
    # a box the user types in again is measured again
    page.locator("#message textarea").fill("And 5 more?")
    page.wait_for_function("window.__meters.length > 2")
    assert [j for j in joined if j["fn_index"] in box_measures]
