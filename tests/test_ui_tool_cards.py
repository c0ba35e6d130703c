"""seedchat/ui/tool_cards.py: a tool call's card in the answer (status, duration, result,
images, resources, the approval links), untrusted text kept as text, and the view of a
turn of the tool loop (replies and cards in order)."""

from __future__ import annotations

import base64

import pytest

from seedchat.events import AnswerDelta, Done, ToolCall, ToolMedia, ToolResult, ToolRun
from seedchat.ui.tool_cards import (
    APPROVAL_LINK,
    LoopView,
    ToolCard,
    card_message,
    code_block,
    saved_card,
)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode()


def run(status: str, **values) -> ToolRun:
    return ToolRun("call_1", "get_current_time", {"timezone": "Asia/Tokyo"}, status, **values)


@pytest.mark.parametrize(
    ("status", "words", "open_"),
    [
        ("waiting", "waiting for approval", True),
        ("running", "running", True),
        ("done", "done", False),
        ("failed", "failed", False),
        ("declined", "declined", False),
    ],
)
def test_each_status_has_its_words_and_only_busy_cards_stay_open(status, words, open_):
    message = card_message(ToolCard.of(run(status, server="time")))
    title = message["metadata"]["title"]
    assert words in title and "get\\_current\\_time" in title and "time" in title
    assert (message["metadata"]["status"] == "pending") is open_
    assert '"timezone": "Asia/Tokyo"' in message["content"]  # the arguments as JSON


def test_only_a_waiting_card_has_the_three_decisions():
    waiting = card_message(ToolCard.of(run("waiting")))["content"]
    for what in ("once", "always", "deny"):
        assert f"]({APPROVAL_LINK}{what}-call_1)" in waiting
    for status in ("running", "done", "declined"):
        assert APPROVAL_LINK not in card_message(ToolCard.of(run(status)))["content"]


def test_a_finished_card_shows_its_duration_and_result():
    card = ToolCard.of(run("done", seconds=0.4321, preview='{"datetime": "2026-12-02"}'))
    message = card_message(card)
    assert "0.43 s" in message["metadata"]["title"]
    assert '{"datetime": "2026-12-02"}' in message["content"]
    card.take(ToolResult("call_1", "get_current_time", "the whole result", cut=True))
    content = card_message(card)["content"]
    assert "the whole result" in content and "cut for the model" in content


def test_html_and_script_from_a_tool_stay_text():
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)> ``` [x](javascript:alert(3))"
    card = ToolCard.of(
        ToolRun("call_1", "<b>evil</b>", {"q": evil}, "done", preview=evil, server="<i>s</i>")
    )
    message = card_message(card)
    content, title = message["content"], message["metadata"]["title"]
    # outside code blocks nothing is markup: names are escaped
    assert "<b>" not in title and "\\<b\\>evil\\</b\\>" in title and "\\<i\\>" in title
    outside = content.split("```")[0]
    assert "<" not in outside.replace("\\<", "")
    # the result sits in a fence longer than any backtick run inside it
    assert "\n````\n" + evil + "\n````" in content
    assert code_block("a ```` b").startswith("`````\n")


def test_an_image_is_shown_and_a_resource_is_named():
    media = (
        ToolMedia("image", "image/png", PNG, size=48),
        ToolMedia("image", "image/png", None, size=900_000),  # too large to show
        ToolMedia("resource", "text/plain", None, "test://static/resource/1", "Resource 1"),
        ToolMedia("resource_link", "application/json", None, "file:///x.json", "x.json"),
    )
    content = card_message(ToolCard.of(run("done", media=media)))["content"]
    assert f"![tool image](data:image/png;base64,{PNG})" in content
    assert "879 KiB, too large to show" in content
    assert "resource Resource 1 — test://static/resource/1 (text/plain)" in content
    assert "resource link x.json — file:///x.json (application/json)" in content


def test_an_image_that_is_not_base64_or_not_an_image_is_only_named():
    bad = (
        ToolMedia("image", "image/png", "abc) ![x](http://evil"),
        ToolMedia("image", "text/html", PNG),
    )
    content = card_message(ToolCard.of(run("done", media=bad)))["content"]
    assert "data:" not in content and "http://evil" not in content


def test_a_loop_turn_is_reply_card_reply_in_order():
    view = LoopView(budget=0)
    for event in [
        ToolCall("get_current_time", {"timezone": "Asia/Tokyo"}, id="call_1"),
        Done("stop"),
        run("waiting"),
    ]:
        view.apply(event)
    assert view.done is None and view.waiting == ["call_1"]
    for event in [
        run("running"),
        run("done", seconds=0.2, preview="07:13"),
        ToolResult("call_1", "get_current_time", "07:13"),
        AnswerDelta("It is 07:13 in Tokyo."),
        Done("stop"),
    ]:
        view.apply(event)
    messages = view.messages()
    titles = [m.get("metadata", {}).get("title", "") for m in messages]
    assert "done" in titles[1]
    assert messages[-1]["content"] == "It is 07:13 in Tokyo."
    assert view.done is not None and view.waiting == []


def test_a_stop_while_a_call_waits_says_stopped():
    view = LoopView(budget=0)
    for event in [ToolCall("t", id="call_1"), Done("stop"), run("waiting")]:
        view.apply(event)
    view.apply(Done("cancelled"))
    assert view.done is not None and "stopped" in view.messages()[-1]["content"]


def test_a_saved_tool_turn_is_drawn_as_its_live_card():
    media = [{"kind": "image", "mime_type": "image/png", "data": PNG, "size": 48}]
    stats = {"is_error": False, "seconds": 0.5, "server": "time", "media": media}
    done = saved_card('{"datetime": "x"}', stats, "get_current_time", {"timezone": "UTC"}, "c")
    assert "done · 0.50 s" in done["metadata"]["title"] and "· time" in done["metadata"]["title"]
    assert '"timezone": "UTC"' in done["content"] and "data:image/png" in done["content"]
    declined = saved_card("The user declined this call.", {}, "t", {}, "c")
    assert "declined" in declined["metadata"]["title"]
    failed = saved_card("Error: boom", {"is_error": True}, "t", {}, "c")
    assert "failed" in failed["metadata"]["title"]


# -- the page's approvals (seedchat/ui/page_tools.py): a call waits for its tab's click ----


def test_a_call_waits_for_its_own_tabs_decision():
    import threading

    from seedchat.tools.protocol import PendingCall
    from seedchat.ui.page_tools import Approvals

    approvals = Approvals()
    cancel = threading.Event()
    decided = []
    waiter = threading.Thread(
        target=lambda: decided.append(
            approvals.approver("tab-a", cancel).decide(PendingCall("call_9", "t", {}))
        )
    )
    waiter.start()
    while not approvals.waiting("tab-a"):
        threading.Event().wait(0.01)
    assert not approvals.decide("tab-b", "call_9", "once")  # another tab cannot answer it
    assert not approvals.decide("tab-a", "call_9", "run it")  # not a decision
    assert not approvals.decide("tab-a", "call_8", "once")  # no such call waits
    assert approvals.decide("tab-a", "call_9", "always")
    waiter.join(5)
    assert decided == ["always"] and approvals.waiting("tab-a") == []


def test_stop_while_a_call_waits_ends_the_wait():
    import threading

    from seedchat.tools.protocol import PendingCall
    from seedchat.ui.page_tools import Approvals

    approvals = Approvals()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(KeyboardInterrupt):  # the tool loop's "stopped" (as Ctrl+C)
        approvals.approver("tab", cancel).decide(PendingCall("c", "t", {}))
    assert approvals.waiting("tab") == []
