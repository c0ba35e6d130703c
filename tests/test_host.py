"""The model host (seedchat.engine.host) without a browser: which model loads first, load errors,
no model, and the event pump that keeps the model decoding while a page is slow."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from seedchat.chat.pump import EventPump
from seedchat.chat.session import ChatSession, Turn
from seedchat.engine.host import ModelHost, initial_model
from seedchat.errors import EngineError, ModelFileError
from seedchat.events import Done, Notice
from seedchat.models import demo_model
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings, load_settings
from seedchat.ui.models_tab import status_markdown

HI = [Message("user", "hi")]


def test_initial_model_is_the_last_used_else_the_demo(tmp_path: Path):
    settings = load_settings()
    assert initial_model(settings) == demo_model()
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    settings.set("model", str(model))
    assert initial_model(settings) == model
    model.unlink()  # a last model that was deleted falls back to the demo
    assert initial_model(settings) == demo_model()


def test_chat_settings_build_the_engine_conversation():
    turns = [Turn("user", "hi", id="1")]
    brief = ChatSession(None, None, ChatSettings(system_prompt="  Be brief.  "), turns)
    assert brief.messages() == [Message("system", "Be brief."), Message("user", "hi")]
    assert ChatSession(None, None, ChatSettings(), turns).messages() == HI


def test_a_bad_file_leaves_no_model_and_an_error(tmp_path: Path):
    host = ModelHost(load_settings())
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 40)  # the magic, then garbage
    with pytest.raises(ModelFileError):
        host.load(bad)
    assert host.engine is None and host.info is None
    assert "bad.gguf" in host.error
    assert status_markdown(host) == "○ No model loaded (load failed)"
    assert load_settings().get("model") is None  # a failed load is not remembered
    with pytest.raises(EngineError, match=r"No model is loaded \(bad\.gguf"):
        list(host.generate(HI, ChatSettings().generation_options()))


def test_no_model_at_all_says_what_to_do():
    host = ModelHost(load_settings())
    host.load_in_background(None)
    assert host.wait_loaded(5)
    with pytest.raises(EngineError) as info:
        list(host.generate(HI, ChatSettings().generation_options()))
    assert "Models tab" in str(info.value)


@pytest.fixture(scope="module")
def demo_host():
    host = ModelHost(load_settings())
    host.load(demo_model(), remember=False, n_gpu_layers=0)
    yield host
    host.unload()


def pump(host: ModelHost, question: str, chat: ChatSettings, **kw) -> EventPump:
    """A pump over one reply of ``host``, stopped (as the page stops it) by its cancel."""
    cancel = threading.Event()
    messages = [Message("user", question)]
    return EventPump(
        lambda: host.generate(messages, chat.generation_options(), cancel), cancel.set, **kw
    )


def test_the_model_keeps_decoding_while_the_page_is_slow(demo_host):
    """A page that takes long to draw an update never holds the model up: the whole
    reply arrives in the next batch, and every event is handed on exactly once."""
    seen = []
    chat = ChatSettings(budget=512, max_tokens=300)
    pumped = pump(demo_host, "What is 12 plus 30?", chat, on_event=seen.append)
    batches = []
    for batch in pumped.batches():
        batches.append(batch)
        if len(batches) == 1:  # drawing the first update takes as long as the whole reply
            deadline = time.monotonic() + 30
            while demo_host.busy and time.monotonic() < deadline:
                time.sleep(0.05)
    pumped.close()
    events = [e for b in batches for e in b]
    assert events == seen  # the recorder and the page got the same events, in order
    assert isinstance(events[-1], Done) and events[-1].finish_reason in ("stop", "length")
    # the model finished while the page was drawing: the rest came as one more batch
    assert len(batches) == 2, [len(b) for b in batches]
    assert len(batches[1]) > 10 and isinstance(batches[1][-1], Done)
    assert not demo_host.busy


def test_closing_the_pump_stops_the_model(demo_host):
    pumped = pump(demo_host, "Count to 1000.", ChatSettings(budget=-1, max_tokens=4000))
    first = next(pumped.batches())
    assert first
    started = time.perf_counter()
    pumped.close()  # as when the page goes away mid-reply
    assert time.perf_counter() - started < 5
    assert not demo_host.busy
    # the engine is usable again at once
    options = ChatSettings(budget=0, max_tokens=8).generation_options()
    done = [e for e in demo_host.generate(HI, options) if isinstance(e, Done)]
    assert done and done[0].finish_reason in ("stop", "length")


def test_the_turn_queue_is_first_come_first_served_and_bounded():
    from seedchat.engine.host import ModelBusy, TurnQueue

    queue = TurnQueue(max_waiting=3)
    assert queue.enter() is None and queue.busy  # the first takes the turn at once
    places = [queue.enter() for _ in range(3)]
    with pytest.raises(ModelBusy, match="3 requests are already waiting"):
        queue.enter()
    order = []

    def waiter(i: int) -> None:
        assert queue.wait(places[i])
        order.append(i)
        queue.leave()

    threads = [threading.Thread(target=waiter, args=(i,)) for i in (2, 0, 1)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    queue.leave()
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2]  # the order they came in, not the order they began waiting
    assert not queue.busy and queue.waiting == 0


def test_a_waiter_that_gives_up_leaves_the_queue():
    from seedchat.engine.host import TurnQueue

    queue = TurnQueue(max_waiting=2)
    queue.enter()
    first, second = queue.enter(), queue.enter()
    cancel = threading.Event()
    cancel.set()
    assert queue.wait(first, cancel) is False  # gave up: out of the queue
    assert queue.waiting == 1
    queue.leave()  # the turn goes to the one still waiting
    assert second.is_set()
    queue.give_up(second)  # given the turn but no longer there: it passes on (to nobody)
    assert not queue.busy


def test_a_reader_that_goes_away_while_waiting_frees_its_place(demo_host):
    options = ChatSettings(budget=0, max_tokens=4).generation_options()
    demo_host.turns.enter()  # someone else is generating
    try:
        waiting = demo_host.generate(HI, options)
        assert next(waiting).kind == "busy"
        assert demo_host.turns.waiting == 1
        waiting.close()  # the page or the HTTP client went away
        assert demo_host.turns.waiting == 0
    finally:
        demo_host.turns.leave()
    done = [e for e in demo_host.generate(HI, options) if isinstance(e, Done)]
    assert done and not demo_host.busy


def test_a_reply_waiting_for_a_token_count_is_not_told_the_model_is_busy(demo_host):
    """The page's context meter holds the turn a moment while it counts: a reply that
    waits for it says nothing, but one waiting behind another reply is told."""
    options = ChatSettings(budget=0, max_tokens=4).generation_options()
    with demo_host.turns.held("count"):
        events: list = []
        reply = threading.Thread(target=lambda: events.extend(demo_host.generate(HI, options)))
        reply.start()
        deadline = time.monotonic() + 10
        while demo_host.turns.waiting == 0:  # it waits for the count
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert events == []
    reply.join(60)
    assert isinstance(events[-1], Done)
    assert not [e for e in events if isinstance(e, Notice) and e.kind == "busy"]
    demo_host.turns.enter()  # a reply holds the turn, a count waits behind it
    counting = demo_host.turns.enter(kind="count")
    try:
        waiting = demo_host.generate(HI, options)
        assert next(waiting).kind == "busy"
        waiting.close()
    finally:
        demo_host.turns.give_up(counting)
        demo_host.turns.leave()
    assert not demo_host.busy
