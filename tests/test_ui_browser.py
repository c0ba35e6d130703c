"""The real app in a real headless Chromium: page, settings, models, errors.

Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import page_events, screenshot, send, set_budget, set_checked, wait_done

pytestmark = pytest.mark.slow


def test_page_is_complete_and_makes_no_outside_request(page, outside_requests):
    page.wait_for_function("document.querySelector('#model-status')?.innerText.length > 0")
    for selector in ("#message", "#send", "#stop", "#budget", "#unlimited", "#enforcement"):
        page.locator(selector).first.wait_for(state="visible", timeout=10_000)  # drawn in turn
    assert page.get_by_text("0 means answer directly").is_visible()
    page.wait_for_timeout(1500)  # the app keeps an event stream open: no "network idle"
    screenshot(page, "ui-page")
    assert outside_requests == []


def test_budget_controls(page):
    unlimited = page.locator("#unlimited input[type=checkbox]")
    note = page.locator("#budget-now")
    set_checked(page, unlimited, False)
    budget = page.locator("#budget input[type=number]")
    budget.fill("1024")
    budget.press("Enter")
    page.wait_for_function(
        "document.querySelector('#budget-now').innerText.includes('1024 tokens')"
    )
    budget.fill("0")
    budget.press("Enter")
    page.wait_for_function(
        "document.querySelector('#budget-now').innerText.includes('answer directly')"
    )
    set_checked(page, unlimited, True)
    page.wait_for_function("document.querySelector('#budget-now').innerText.includes('unlimited')")
    assert "unlimited" in note.inner_text()
    assert budget.is_disabled()
    screenshot(page, "ui-budget-unlimited")


def fill_1024_holding(page, wanted: Callable[[dict], bool], what: str) -> Any:
    """Fill the budget's box with 1024 while the page's first request to the server that
    ``wanted`` accepts (its JSON body) is held; that request's route (``continue_()`` lets it
    go, and ``page.unroute`` ends the holding: a request routed while the test is not in a
    Playwright call waits)."""
    held: list[Any] = []

    def route(request_route) -> None:
        request = request_route.request
        body = request.post_data_json if request.method == "POST" else None
        if not held and isinstance(body, dict) and wanted(body):
            held.append(request_route)
        else:
            request_route.continue_()

    page.route("**/gradio_api/**", route)
    page.locator("#budget input[type=number]").fill("1024")
    deadline = time.monotonic() + 20
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert held, f"{what} was not seen"
    return held[0]


def _note_event(app) -> int:
    """The id of the page's event that writes the budget's note (``#budget-now``) when the
    slider changes."""
    ids, events = page_events(app.url)
    return next(
        d["id"]
        for d in events
        if d["backend_fn"]
        and ids["budget-now"] in d["outputs"]
        and [ids["budget"], "change"] in d["targets"]
    )


def test_the_budget_note_ends_on_what_the_controls_show_whatever_order_answers_come_in(app, page):
    """Unlimited ticked while the note's answer for the slider's last move is still on its
    way: the note ends saying unlimited. (Before, the slider and the box each had an event of
    their own, their answers could come back in either order on a busy machine, and the note
    stayed on the older one: seen in CI as a note that never caught up with the slider.)"""
    note_event = _note_event(app)
    unlimited = page.locator("#unlimited input[type=checkbox]")
    set_checked(page, unlimited, False)
    held = fill_1024_holding(  # the answer for the slider's 1024 comes back last
        page,
        lambda body: body.get("fn_index") == note_event and body["data"][:2] == [1024, False],
        "the note's request for 1024",
    )
    unlimited.check()
    page.wait_for_timeout(1000)  # the answer for unlimited would be back by now
    held.continue_()
    page.wait_for_function(
        "document.querySelector('#budget-now').innerText.includes('unlimited')", timeout=20_000
    )
    page.wait_for_timeout(1000)  # and it stays
    assert "unlimited" in page.locator("#budget-now").inner_text()
    assert unlimited.is_checked()
    page.unroute("**/gradio_api/**")


def test_bad_model_file_shows_an_error_in_the_page(page, tmp_path: Path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 64)
    page.get_by_role("tab", name="Models").click()
    page.locator("#model-path textarea, #model-path input").first.fill(str(bad))
    page.locator("#load-model").click()
    error = page.locator("#error-box")
    error.get_by_text("not a GGUF model file").wait_for(timeout=20_000)
    assert error.is_visible()
    assert "broken.gguf" in error.inner_text()
    screenshot(page, "ui-bad-model-error")


def test_generation_settings_survive_a_reload(app, page):
    set_checked(page, page.locator("#unlimited input[type=checkbox]"), False)
    box = page.locator("#budget input[type=number]")
    box.fill("1024")
    box.press("Enter")
    # the page restores the saved settings as it loads: a click before that lands can be
    # flipped back (seen on a loaded CI machine), so the choice is made until it stays
    set_checked(page, page.locator("#enforcement input[value=soft]"), True)
    saved = wait_saved(page, app.home / "config" / "settings.json", 1024, "soft")
    assert saved.get("thinking_budget") == 1024 and saved.get("enforce") == "soft", saved
    page.reload()
    page.wait_for_selector("#chatbot")
    page.wait_for_function(
        "document.querySelector('#budget-now').innerText.includes('1024 tokens')"
    )
    assert page.locator("#budget input[type=number]").input_value() == "1024"
    assert page.locator("#enforcement input[value=soft]").is_checked()
    assert not page.locator("#unlimited input[type=checkbox]").is_checked()
    screenshot(page, "ui-settings-after-reload")


def test_the_settings_saved_last_are_the_ones_shown_last(app, page):
    """The budget's save is still on its way when the user picks soft enforcement: the
    settings file ends with both (each save writes every setting; before, each control had an
    event of its own whose saves ran in the order their requests arrived, and a slow one
    wrote the older values last: seen in CI as a file left at "hard")."""
    ids, events = page_events(app.url)
    saves = {  # the events a change of the budget or the enforcement runs that show nothing
        d["id"]
        for d in events
        if d["backend_fn"]
        and not d["outputs"]
        and any([ids[name], "change"] in d["targets"] for name in ("budget", "enforcement"))
    }
    settings_file = app.home / "config" / "settings.json"
    set_budget(page, 512)  # where an earlier test left the settings does not matter
    set_checked(page, page.locator("#enforcement input[value=hard]"), True)
    wait_saved(page, settings_file, 512, "hard")
    held = fill_1024_holding(  # the budget's save comes back last
        page,
        lambda body: body.get("fn_index") in saves and 1024 in body["data"],
        "the budget's save",
    )
    page.locator("#enforcement input[value=soft]").check()
    page.wait_for_timeout(1500)  # the soft one's save would be done by now
    held.continue_()
    # no more routing: a request routed while this thread is not in a Playwright call waits
    page.unroute("**/gradio_api/**")
    wait_saved(page, settings_file, 1024, "soft")
    page.wait_for_timeout(1500)  # and nothing older comes after
    saved = json.loads(settings_file.read_text())
    assert saved.get("thinking_budget") == 1024 and saved.get("enforce") == "soft", saved


def wait_saved(page, settings_file: Path, budget: int, enforce: str) -> dict:
    """The settings file once it holds ``budget`` and ``enforce`` (or after 20 s)."""
    deadline, saved = time.monotonic() + 20, {}
    while time.monotonic() < deadline:
        saved = json.loads(settings_file.read_text()) if settings_file.exists() else {}
        if saved.get("thinking_budget") == budget and saved.get("enforce") == enforce:
            break
        page.wait_for_timeout(100)  # a Playwright call: the page's routes are served
    return saved


def test_load_a_model_shows_its_offload_plan(page):
    from seedchat.models import demo_model

    page.get_by_role("tab", name="Models").click()
    # the picker shows the model loaded at start (the demo, on a fresh install)
    page.wait_for_function(
        "document.querySelector('#model-picker input')?.value.toLowerCase().includes('demo')"
    )
    # the local models are read when the tab opens: the demo model is listed
    page.locator("#model-picker input").click()
    page.get_by_role("option", name="seedchat demo (tiny Seed-OSS)").first.wait_for()
    page.keyboard.press("Escape")
    page.locator("#model-path textarea, #model-path input").first.fill(str(demo_model()))
    page.locator("#gpu-layers textarea, #gpu-layers input").first.fill("0")
    page.locator("#load-model").click()
    details = page.locator("#model-details")
    details.get_by_text("Offload plan:").wait_for(timeout=60_000)
    text = details.inner_text()
    assert "seed_oss" in text and "CPU only" in text and "(manual setting)" in text
    assert "demo" in page.locator("#model-status").inner_text()
    assert not page.locator("#error-box").is_visible()
    screenshot(page, "ui-model-loaded")


def test_unload_then_load_again(app, page):
    from seedchat.models import demo_model

    page.get_by_role("tab", name="Models").click()
    page.locator("#unload-model").click()
    page.locator("#model-details").get_by_text("Unloaded.").wait_for(timeout=20_000)
    assert "No model loaded" in page.locator("#model-status").inner_text()
    assert app.host.engine is None
    page.locator("#model-path textarea, #model-path input").first.fill(str(demo_model()))
    page.locator("#load-model").click()
    page.locator("#model-details").get_by_text("Offload plan:").wait_for(timeout=60_000)
    assert "demo" in page.locator("#model-status").inner_text()
    assert app.host.engine is not None


# Counts, from before the page's own scripts run, the animation frames asked for and who
# asked (gradio's status trackers, or anything else).
COUNT_FRAMES = """
window.__frames = {status: 0, loop: 0, other: 0};
const askFrame = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (callback) => {
  const stack = new Error().stack || '';
  const who = stack.includes('statustracker') ? 'status' : stack.includes('Object.tick') ? 'loop' : 'other';
  window.__frames[who] += 1;
  return askFrame(callback);
};
"""


def test_an_idle_page_asks_for_few_frames(app, new_page):
    """Gradio keeps two frame loops running on every page (its status trackers' timer, its
    loader's springs); seedchat's early script (seedchat.ui.frames) gives them four frames
    a second, so an idle page does not draw 60 times a second. The script is the first
    thing in the page's <head>."""
    from seedchat.ui.frames import SCRIPT

    html = httpx.get(app.url).text
    assert html.index(SCRIPT.decode()) < html.index('<script type="module"')
    page = new_page(script=COUNT_FRAMES)
    page.wait_for_selector("#message textarea")
    page.wait_for_timeout(1500)  # the page settles
    page.evaluate("window.__frames = {status: 0, loop: 0, other: 0}")
    page.wait_for_timeout(2000)
    frames = page.evaluate("window.__frames")
    # without the script each loop asks for ~120 frames in 2 s
    assert frames["status"] == 0 and frames["loop"] == 0, frames  # timers, not frames
    assert frames["other"] < 20, frames


def _wakeups(thread) -> int:
    """How many times a thread of this process has gone to sleep and woken (Linux)."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return int(
        next(line for line in status.splitlines() if line.startswith("voluntary_ctxt")).split()[1]
    )


def test_an_idle_page_server_wakes_rarely(app):
    """Gradio's queue looked for work every millisecond: the server's event loop woke a
    thousand times a second with nothing to do, beside the model's threads. It looks every
    10 ms now (seedchat.ui.launch.calm_queue), and its progress every 100 ms."""
    from seedchat.ui.launch import QUEUE_POLL_SECONDS

    loop_thread = app.running.blocks.server.thread
    time.sleep(1.0)  # whatever the last test left settles
    before, started = _wakeups(loop_thread), time.monotonic()
    time.sleep(2.0)
    per_second = (_wakeups(loop_thread) - before) / (time.monotonic() - started)
    # at most one wake-up per poll of each loop, and some room for the page's own timers
    assert per_second < 1.5 / QUEUE_POLL_SECONDS + 10 + 50, per_second


# Records every animation the chat runs, as it reaches the browser (the page's early script,
# in its <head>, has had its say by then): whether it opens (its first keyframe 0 high) and
# how many milliseconds it lasts.
CHAT_ANIMATIONS = """
window.__slides = [];
const animateAsked = Element.prototype.animate;
Element.prototype.animate = function (keyframes, options) {
  if (this.closest?.('#chatbot') && Array.isArray(keyframes) && keyframes.length > 2)
    window.__slides.push({opens: parseFloat(keyframes[0].height) === 0,
                          ms: typeof options === 'number' ? options : options?.duration});
  return animateAsked.call(this, keyframes, options);
};
"""


def test_a_block_the_stream_opens_appears_at_once_one_the_user_opens_slides(new_page):
    """Gradio's chat slid a thinking block open over 0.4 s as the thinking began, drawing 60
    frames a second while the model is busiest (seedchat.ui.frames.OPENINGS_JS): the block
    the stream opens appears at once. Closing it still slides, and a block the user opens
    slides open as before."""
    page = new_page(script=CHAT_ANIMATIONS)
    titles = page.locator("#chatbot .thought-group .title")
    for _attempt in range(3):
        page.evaluate("window.__slides = []")
        send(page, "What is 12 plus 30?")
        wait_done(page)
        if titles.count():
            break
        page.locator("#new-chat").click()  # a reply with no thinking: again
        page.wait_for_function("!document.querySelector('#chatbot [data-testid=user]')")
    page.wait_for_timeout(800)  # a closing slide ends
    streamed = page.evaluate("window.__slides")
    page.evaluate("window.__slides = []")
    titles.last.click()  # the user opens it
    page.wait_for_function("window.__slides.some(s => s.opens)")
    tapped = page.evaluate("window.__slides")
    assert [s["ms"] for s in streamed if s["opens"]] == [0], streamed
    assert [s for s in streamed if not s["opens"] and s["ms"] > 0], streamed  # it slid shut
    assert [s["ms"] > 0 for s in tapped if s["opens"]] == [True], tapped


def _page_config(app) -> tuple[list[dict], dict[str, int]]:
    """The page's events and its components' ids by elem_id, as the browser gets them."""
    config = httpx.get(app.url.rstrip("/") + "/config", timeout=30).json()
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
    return config["dependencies"], ids


def test_no_event_makes_gradio_refresh_its_outputs_on_every_update(app):
    """Gradio's frontend keeps a loading status for every output of every event that has run
    and refreshes each of them (a snapshot of its whole value, and of everything inside a
    layout) on every message of any event: every streamed update of a reply snapshotted the
    whole chat and the settings. No event of the page registers outputs for it
    (``show_progress_on=[]``, seedchat.ui.frames.untracked); the page shows its own progress."""
    events, _ = _page_config(app)
    assert len(events) > 50
    tracked = [e["targets"] for e in events if e.get("show_progress_on") != []]
    assert tracked == []


def test_a_finished_events_inputs_leave_gradios_status_registry(app, page):
    """Gradio keeps a loading status for the inputs of every event that has finished (the
    page's loading, the settings' saving, the meter, the send: every setting, the message
    box, the chat) and hands each a new one on every streamed update. seedchat's early
    script (seedchat.ui.frames.STATUSES_JS) lets them have their last status once, then
    drops them: after a reply only the last event's inputs are left. A gradio release whose
    frontend no longer has that registry fails here."""
    send(page, "What is 2 plus 2?")
    wait_done(page)
    page.wait_for_timeout(1500)  # the events a turn ends with (the meter, the title)
    registry = page.evaluate("typeof window.seedchatStatuses")
    assert registry == "object", page.evaluate("window.seedchatStatuses")
    finished = page.evaluate(
        """Object.values(window.seedchatStatuses.current)
             .filter(s => s && s.type === 'input' && s.status === 'complete')
             .map(s => s.fn_index)"""
    )
    assert len(set(finished)) <= 1, finished


def test_a_send_is_one_event_that_empties_the_box(app):
    """Send (the button, Enter) is one queued event: a second event chained after one that
    empties the box cost the first token a round trip and the browser's gathering of every
    input again (docs/benchmarks.md, issue 31). Its browser-side step empties the box's text
    at once, however long the turn waits in the queue; its first update empties the rest."""
    events, ids = _page_config(app)
    for trigger in ([ids["send"], "click"], [ids["message"], "submit"]):
        sends = [e for e in events if trigger in e["targets"]]
        assert len(sends) == 1, sends
        (send,) = sends
        assert send["queue"] is not False and send["backend_fn"]
        assert ids["message"] in send["outputs"] and ids["chatbot"] in send["outputs"]
        assert not [e for e in events if e.get("trigger_after") == send["id"]]  # no second
        assert "box.value = ''" in send["js"]  # the text leaves the box in the browser at once
