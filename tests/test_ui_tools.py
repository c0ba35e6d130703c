"""Tools in the page, on the demo model through the real MCP servers: a call waits for
Allow once / Deny on its card in the answer (real Chromium), the real `mcp-server-time`
answers, the Tools panel switches a server and a conversation's tools, a reopened
conversation keeps its cards and its choice; a server that hangs, crashes or fails to
start, a bad mcp.json and an unknown tool each give a clear message; no server process
is left when the app stops. The model's replies are scripted (``script_next_reply``:
the demo model writes each given reply token by token), except in one test, where the demo
model, which learnt the tool task, writes the call and the answer itself."""

from __future__ import annotations

import json
import re
import sys
import threading
import time

import psutil
import pytest

from seedchat.chat.session import ChatSession, SessionTools
from seedchat.chat.tool_loop import DECLINED
from seedchat.engine.host import ModelHost
from seedchat.events import ToolRun
from seedchat.settings import ChatSettings, ToolSettings, load_settings
from seedchat.tools.config import ServerEntry
from seedchat.tools.protocol import DenyAll
from seedchat.ui.conversations import newest_conversation
from seedchat.ui.page_tools import PageTools
from seedchat.ui.tool_cards import LoopView
from seedchat.ui.tools_panel import status_markdown
from tests.browser import (
    Pages,
    running_app,
    screenshot,
    send,
    set_budget,
    set_checked,
    wait_title,
)
from tests.mcp_servers import (
    PINNED_AT,
    config_with,
    descendants,
    everything_entry,
    pinned_time_entry,
    script_entry,
    time_entry,
)
from tests.page_script import Script, call, chat_text, scripted_generate, settled, wait_text

pytestmark = pytest.mark.slow

#: the thinking budget at which the demo model is tested on the tool task unscripted
DEMO_BUDGET = 512


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app with the real mcp-server-time in its mcp.json (its clock pinned, for the
    test where the demo model answers by itself), sampling greedily."""
    home = tmp_path_factory.mktemp("tools-home")
    (home / "config").mkdir(parents=True, exist_ok=True)
    config_with(home / "config", pinned_time_entry(PINNED_AT)).save()
    # greedy (the scripted replies are forced token by token, whatever the sampling)
    ChatSettings(temperature=0.0).save_to(load_settings(home / "config" / "settings.json"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ModelHost, "generate", scripted_generate)
        with running_app(home, port=7890) as running:
            running.host.wait_loaded(120)
            assert running.host.engine is not None, running.host.error
            yield running


def page_tools(app) -> PageTools:
    return app.running.blocks.seedchat_tools


def test_allow_once_runs_the_real_time_server_and_the_answer_quotes_it(page, app):
    assert (app.home / "config" / "mcp.json").exists()
    set_budget(page, 0)
    Script.replies[:] = [call("get_current_time", timezone="Asia/Tokyo"), "It is {datetime}."]
    send(page, "What time is it in Tokyo?")
    once = page.locator('#chatbot a[href^="#tool-once-"]')
    once.wait_for(timeout=120_000)
    assert "waiting for approval" in chat_text(page)
    screenshot(page, "tools-waiting")
    once.click()
    wait_text(page, r"It is 20\d\d-\d\d-\d\dT[\d:]+\+09:00\.")
    settled(app)
    # after a reply that called a tool, the new conversation's title shows, as listed
    page.locator("#conversation-list").get_by_text("What time is it in Tokyo?").wait_for()
    wait_title(page, "What time is it in Tokyo?")
    text = chat_text(page)
    assert re.search(r"get_current_time · time — done · \d+\.\d\d s", text), text
    page.get_by_text(re.compile("get_current_time · time — done")).first.click()
    wait_text(page, '"timezone": "Asia/Tokyo"')  # the result's preview, in the card
    screenshot(page, "tools-done")
    store = app.running.blocks.seedchat_store
    saved = store.get_conversation(newest_conversation(store)).messages
    roles = [m.role for m in saved]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert json.loads(saved[2].content)["timezone"] == "Asia/Tokyo"
    assert saved[2].stats["server"] == "time"


def test_the_demo_model_itself_calls_the_tool_and_answers_with_its_time(page, app):
    """No script: the demo model learnt the tool task (packaging/demo_model), so it writes
    the call, waits for Allow once, and its answer quotes the real server's time."""
    Script.replies.clear()
    set_budget(page, DEMO_BUDGET)
    send(page, "What time is it in Tokyo?")
    once = page.locator('#chatbot a[href^="#tool-once-"]')
    once.wait_for(timeout=120_000)
    assert "get_current_time · time — waiting for approval" in chat_text(page)
    once.click()
    wait_text(page, "get_current_time · time — done")
    settled(app)
    store = app.running.blocks.seedchat_store
    saved = store.get_conversation(newest_conversation(store)).messages
    assert [m.role for m in saved] == ["user", "assistant", "tool", "assistant"]
    assert saved[1].tool_calls[0]["arguments"] == {"timezone": "Asia/Tokyo"}
    hhmm = json.loads(saved[2].content)["datetime"][11:16]
    assert hhmm in saved[3].content
    wait_text(page, re.escape(saved[3].content.strip()))  # the answer, on the page


def test_deny_gives_a_declined_card_and_the_models_next_reply(page, app):
    set_budget(page, 0)
    Script.replies[:] = [call("get_current_time", timezone="Europe/Paris"), "Fine, no clock."]
    send(page, "What time is it in Paris?")
    deny = page.locator('#chatbot a[href^="#tool-deny-"]')
    deny.wait_for(timeout=120_000)
    deny.click()
    wait_text(page, "Fine, no clock.")
    settled(app)
    assert "get_current_time · time — declined" in chat_text(page)
    store = app.running.blocks.seedchat_store
    saved = store.get_conversation(newest_conversation(store)).messages
    assert [m.content for m in saved if m.role == "tool"] == [DECLINED]
    assert saved[-1].content == "Fine, no clock."


def test_a_reopened_conversation_keeps_its_cards(new_page, app):
    page = new_page(fresh=False)  # the conversation used last: the declined call
    wait_text(page, "Fine, no clock.")
    text = chat_text(page)
    assert "get_current_time · time — declined" in text
    assert text.index("What time is it in Paris?") < text.index("declined")


def test_stop_while_a_call_waits_ends_the_answer_and_saves_the_call_as_not_run(page, app):
    set_budget(page, 0)
    Script.replies[:] = [call("get_current_time", timezone="UTC"), "never written"]
    send(page, "What time is it in UTC?")
    page.locator('#chatbot a[href^="#tool-once-"]').wait_for(timeout=120_000)
    page.locator("#stop").click()
    wait_text(page, "get_current_time · time — failed")
    settled(app)
    assert "never written" not in chat_text(page)
    store = app.running.blocks.seedchat_store
    saved = store.get_conversation(newest_conversation(store)).messages
    assert [m.content for m in saved if m.role == "tool"] == ["Not run: the answer was stopped."]
    Script.replies.clear()


def test_always_allow_writes_mcp_json_and_the_next_call_runs_unasked(page, app, monkeypatch):
    monkeypatch.setenv("SEEDCHAT_HOME", str(app.home))  # the app's home, as in its process
    mcp_json = app.home / "config" / "mcp.json"
    set_budget(page, 0)
    Script.replies[:] = [call("get_current_time", timezone="Asia/Tokyo"), "First: {datetime}."]
    send(page, "Time in Tokyo?")
    always = page.locator('#chatbot a[href^="#tool-always-"]')
    always.wait_for(timeout=120_000)
    always.click()
    wait_text(page, r"First: 20\d\d")
    settled(app)
    entry = json.loads(mcp_json.read_text())["mcpServers"]["time"]
    assert entry["alwaysAllow"] == ["get_current_time"]
    Script.replies[:] = [call("get_current_time", timezone="Asia/Tokyo"), "Again: {datetime}."]
    send(page, "And now?")
    wait_text(page, r"Again: 20\d\d")
    settled(app)
    assert chat_text(page).count("waiting for approval") == 0
    entry.pop("alwaysAllow")  # ask again in the tests that follow
    mcp_json.write_text(json.dumps({"mcpServers": {"time": entry}}), encoding="utf-8")


def open_tools(page) -> None:
    if not page.locator("#tool-servers").is_visible():
        page.locator("#tools-drawer").get_by_text("Tools", exact=True).first.click()
    page.wait_for_function(
        "document.querySelector('#tools-status')?.innerText.includes('tokens')",
        timeout=60_000,
    )


def test_the_conversations_tool_choice_is_used_saved_and_restored(new_page, app):
    page = new_page()
    set_budget(page, 0)
    open_tools(page)
    box = page.locator("#conversation-tools").get_by_label("get_current_time (time)")
    screenshot(page, "tools-panel")
    set_checked(page, box, False)
    Script.replies[:] = ["I have no clock here."]
    send(page, "What time is it?")
    wait_text(page, "I have no clock here.")
    settled(app)
    assert "get_current_time" not in Script.prompts[-1]  # no tools block at all
    store = app.running.blocks.seedchat_store
    conv_id = newest_conversation(store)
    assert store.get_conversation(conv_id).settings["tools_off"] == ["time/get_current_time"]
    again = new_page(fresh=False)
    open_tools(again)
    restored = again.locator("#conversation-tools").get_by_label("get_current_time (time)")
    again.wait_for_timeout(500)
    assert not restored.is_checked()


def test_switching_a_server_off_takes_its_tools_out_of_the_next_prompt(new_page, app):
    mcp_json = app.home / "config" / "mcp.json"
    page = new_page()
    set_budget(page, 0)
    open_tools(page)
    server = page.locator("#tool-servers").get_by_label("time", exact=True)
    set_checked(page, server, False)
    page.wait_for_function(
        "document.querySelector('#tools-status').innerText.includes('time — off')"
    )
    assert json.loads(mcp_json.read_text())["mcpServers"]["time"]["disabled"] is True
    Script.replies[:] = ["No tools."]
    send(page, "What time is it?")
    wait_text(page, "No tools.")
    settled(app)
    assert "get_current_time" not in Script.prompts[-1]
    set_checked(page, server, True)
    page.wait_for_function(
        "document.querySelector('#tools-status').innerText.includes('time — ready')",
        timeout=60_000,
    )
    assert "disabled" not in json.loads(mcp_json.read_text())["mcpServers"]["time"]


# -- what goes wrong, each in words (the page's tools, the loop, the demo model) -------------


def loop_turn(app, tools: PageTools, *replies: str, kill: int | None = None) -> LoopView:
    """One turn with ``tools``, calls run unasked; the cards and replies drawn. ``kill``:
    a process killed half a second after the call starts."""
    Script.replies[:] = list(replies)
    session = ChatSession(
        app.host,
        None,
        ChatSettings(budget=0, max_tokens=200, temperature=0),
        tools=SessionTools(tools.runner(), DenyAll(), ToolSettings(approval="auto")),
    )
    view = LoopView(budget=0)
    for event in session.turn("Go."):
        view.apply(event)
        if kill is not None and isinstance(event, ToolRun) and event.status == "running":
            threading.Timer(0.5, lambda: psutil.Process(kill).kill()).start()
    return view


def card_of(view: LoopView) -> dict:
    return next(m for m in view.messages() if "—" in m.get("metadata", {}).get("title", ""))


def test_a_hang_a_crash_a_failed_start_and_an_unknown_tool_are_each_said(app, tmp_path):
    exits = "import sys; print('NEEDS_A_TOKEN', file=sys.stderr); sys.exit(3)"
    broken = ServerEntry("broken", command=sys.executable, args=("-c", exits))
    config = config_with(tmp_path, script_entry("test", timeout=1.0), broken)
    config.save()
    tools = PageTools(app.host.settings, config.path)
    try:
        hung = card_of(loop_turn(app, tools, call("hang"), "ok"))
        assert "hang · test — failed" in hung["metadata"]["title"]
        assert "took longer than 1 s" in hung["content"]

        config.servers["test"] = script_entry("test", timeout=30.0)
        config.save()
        pid = int(tools.host().call("test", "pid").text)
        crashed = card_of(loop_turn(app, tools, call("hang"), "ok", kill=pid))
        assert "stopped unexpectedly" in crashed["content"]
        assert "restarted on the next call" in crashed["content"]

        unknown = card_of(loop_turn(app, tools, call("no_such_tool"), "ok"))
        assert "failed" in unknown["metadata"]["title"]
        assert "there is no tool named 'no_such_tool'" in unknown["content"]

        shown = status_markdown(tools.statuses(), tools.costs(app.host.engine), tools.problem)
        assert "broken** — failed" in shown and "NEEDS\\_A\\_TOKEN" not in shown
        assert "NEEDS_A_TOKEN" in shown  # its stderr's tail, in a code block as it was
    finally:
        tools.close()


def test_a_bad_mcp_json_turns_tools_off_and_says_where(tmp_path, app):
    path = tmp_path / "mcp.json"
    path.write_text('{"mcpServers": {"time": ', encoding="utf-8")
    tools = PageTools(app.host.settings, path)
    assert tools.runner() is None
    assert "Tools are off" in tools.problem and str(path) in tools.problem
    assert "not valid JSON" in tools.problem
    assert "not valid JSON" in status_markdown([], tools.costs(None), tools.problem)


def test_an_image_is_shown_in_its_card_and_a_resource_named(browser, app, tmp_path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    config_with(home / "config", everything_entry()).save()
    with running_app(home, port=7896) as other, Pages(browser, other.url) as pages:
        other.host.wait_loaded(120)
        page = pages()
        set_budget(page, 0)
        Script.replies[:] = [call("get-tiny-image"), call("get-resource-links", count="1"), "ok"]
        send(page, "Show me a picture and a link.")
        for _ in range(2):
            once = page.locator('#chatbot a[href^="#tool-once-"]')
            once.wait_for(timeout=120_000)
            once.click()
            once.wait_for(state="detached", timeout=60_000)
        wait_text(page, r"(^|\n)ok(\n|$)")
        settled(other)
        for title in ("get-tiny-image · everything — done", "get-resource-links · everything"):
            page.get_by_text(re.compile(title)).first.click()
        wait_text(page, "resource link Blob Resource 1 — demo://resource/dynamic/blob/1")
        image = page.locator('#chatbot img[src^="data:image/png;base64,"]')
        image.first.wait_for(timeout=30_000)
        screenshot(page, "tools-image")
        assert image.first.evaluate("img => img.naturalWidth") > 0  # it decoded


def test_no_server_process_is_left_after_the_app_stops(tmp_path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    config_with(home / "config", time_entry()).save()
    before = {p.pid for p in descendants()}  # the module's app has its own server
    with running_app(home, port=7895) as running:
        tools = running.running.blocks.seedchat_tools
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and tools.statuses()[0].state != "ready":
            time.sleep(0.1)
        assert tools.statuses()[0].state == "ready"
        servers = [
            p
            for p in descendants()
            if p.pid not in before and "mcp-server-time" in " ".join(p.cmdline())
        ]
        assert servers
    _, alive = psutil.wait_procs(servers, timeout=10)
    assert not alive
