"""The event pump's two faces (a thread's and an event loop's) read the same batches: every
event once and in order, then what the stream raised, then the end; closing stops it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from seedchat.chat.pump import EventPump
from seedchat.errors import EngineError
from seedchat.events import AnswerDelta, Done, Event, ThinkingEnd


def stream(n: int, fail: bool = False, gate: threading.Event | None = None):
    def events():
        for i in range(n):
            if gate is not None and i == n // 2:
                gate.wait(5)  # the reader is mid-way: the rest comes as a later batch
            yield AnswerDelta(str(i))
        if fail:
            raise EngineError("the model broke")
        yield Done("stop")

    return events


def read_sync(pump: EventPump) -> list[list[Event]]:
    return list(pump.batches())


def read_async(pump: EventPump) -> list[list[Event]]:
    async def read():
        return [batch async for batch in pump.abatches()]

    return asyncio.run(read())


@pytest.mark.parametrize("read", [read_sync, read_async])
def test_every_event_once_in_order_then_the_end(read):
    gate = threading.Event()
    pump = EventPump(stream(40, gate=gate), gate.set)
    time.sleep(0.2)  # the first half waits in the queue: it comes as one batch
    gate.set()
    batches = read(pump)
    events = [e for b in batches for e in b]
    assert [e.text for e in events[:-1]] == [str(i) for i in range(40)]
    assert isinstance(events[-1], Done) and len(batches[0]) >= 20


@pytest.mark.parametrize("read", [read_sync, read_async])
def test_the_events_before_an_error_arrive_then_the_error_is_raised(read):
    seen: list[Event] = []
    pump = EventPump(stream(5, fail=True), lambda: None)

    def collect(batches):
        for batch in batches:
            seen.extend(batch)

    with pytest.raises(EngineError, match="the model broke"):
        if read is read_sync:
            collect(pump.batches())
        else:

            async def go():
                async for batch in pump.abatches():
                    seen.extend(batch)

            asyncio.run(go())
    assert [e.text for e in seen] == ["0", "1", "2", "3", "4"]


def test_closing_stops_the_stream_and_waits_for_it():
    stop = threading.Event()

    def endless():
        while not stop.is_set():
            yield AnswerDelta("x")
            time.sleep(0.001)

    pump = EventPump(endless, stop.set)
    next(pump.batches())
    pump.close(timeout=5)
    assert stop.is_set()
    assert not [t for t in threading.enumerate() if t.name == "seedchat-generate"]


def test_a_reader_with_a_wait_gets_an_empty_batch_when_nothing_comes():
    gate = threading.Event()
    pump = EventPump(stream(4, gate=gate), gate.set)
    batches = pump.batches(wait=0.05)
    got = [next(batches)]
    t0 = time.perf_counter()
    got.append(next(batches))  # the stream waits at the gate: nothing comes
    assert got[-1] == [] and 0.04 <= time.perf_counter() - t0 < 2
    gate.set()
    got += list(batches)
    assert [e.text for b in got for e in b if isinstance(e, AnswerDelta)] == list("0123")


def test_a_paced_event_loop_reader_wakes_per_batch_not_per_token():
    """The model writes 200 tokens one every millisecond; a reader paced at 20 ms gets
    them all, in order, in a few batches rather than one per token."""

    def events():
        for i in range(200):
            time.sleep(0.001)
            yield AnswerDelta(str(i))
        yield Done("stop")

    async def read():
        return [batch async for batch in EventPump(events, lambda: None).abatches(pace=0.02)]

    batches = asyncio.run(read())
    texts = [e.text for b in batches for e in b if isinstance(e, AnswerDelta)]
    assert texts == [str(i) for i in range(200)]
    assert isinstance(batches[-1][-1], Done)
    assert len(batches) < 40  # ~0.25 s of tokens at one batch per 20 ms, not 200


def test_a_paced_reader_gets_the_end_at_once():
    """Paced at a second, the reader still gets the end as soon as the stream ends: the
    pause after the first text is cut short (an API's last chunk is not held back)."""

    def events():
        yield AnswerDelta("a")
        time.sleep(0.05)
        yield AnswerDelta("b")
        yield Done("stop")

    async def read():
        started, batches = time.perf_counter(), []
        async for batch in EventPump(events, lambda: None).abatches(pace=1.0):
            batches.append(batch)
        return batches, time.perf_counter() - started

    batches, took = asyncio.run(read())
    assert [[type(e).__name__ for e in b] for b in batches] == [
        ["AnswerDelta"],
        ["AnswerDelta", "Done"],
    ]
    assert took < 0.5, took


def test_a_paced_thread_reader_wakes_per_batch_not_per_token():
    """A page's reader resting 20 ms after each batch gets 200 tokens written a millisecond
    apart, all and in order, in a few batches rather than one per token."""

    def events():
        for i in range(200):
            time.sleep(0.001)
            yield AnswerDelta(str(i))
        yield Done("stop")

    batches = list(EventPump(events, lambda: None).batches(wait=0.25, pause=lambda: 0.02))
    texts = [e.text for b in batches for e in b if isinstance(e, AnswerDelta)]
    assert texts == [str(i) for i in range(200)]
    assert isinstance(batches[-1][-1], Done)
    assert len(batches) < 40  # ~0.25 s of tokens at one batch per 20 ms, not 200


def test_a_resting_thread_reader_wakes_at_once_for_anything_but_text():
    """Resting a second after each batch, the reader still gets a change of the turn's
    shape (the thinking's end) and the end as soon as they come: the page draws them at once."""

    def events():
        yield AnswerDelta("a")
        time.sleep(0.05)
        yield ThinkingEnd(3, 0.1)
        time.sleep(0.05)
        yield AnswerDelta("b")
        yield Done("stop")

    started, batches = time.perf_counter(), []
    arrived = []
    for batch in EventPump(events, lambda: None).batches(pause=lambda: 1.0):
        batches.append([type(e).__name__ for e in batch])
        arrived.append(time.perf_counter() - started)
    assert batches == [["AnswerDelta"], ["ThinkingEnd"], ["AnswerDelta", "Done"]], batches
    assert arrived[1] < 0.5 and arrived[2] < 0.5, arrived  # not a second's rest each
