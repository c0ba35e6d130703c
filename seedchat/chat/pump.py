"""A reply decoded in its own thread, so the model never waits for its reader.

:class:`EventPump` runs a stream of events in a thread of its own and hands the reader
everything that arrived since it last asked, however long it took with the last batch:
a page drawing updates (:meth:`EventPump.batches`, a thread) or an HTTP response
(:meth:`EventPump.abatches`, the event loop). One pump, two faces: the queue, the batching
and the end are the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from seedchat.events import TEXT, Event


class _End:
    """The stream ended (after every event and any error)."""


_END = _End()


class EventPump:
    """Runs a stream of events in its own thread (see the module doc).

    Each event goes to ``on_event`` as it comes and queues up for the reader. What the
    stream raised is raised in the reader. :meth:`close` (also for a reader that went
    away) calls ``stop`` and, from a thread, waits for the stream to end.
    """

    def __init__(
        self,
        events: Callable[[], Iterator[Event]],
        stop: Callable[[], None],
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self._stop = stop
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._on_event = on_event
        self._wake: Callable[[], None] | None = None  # the async reader's, once it waits
        self._waiting = False  # the async reader waits for its wake (set before it looks)
        self._pending: list[object] = []  # what a batch put back for the next read
        self._urgent = threading.Event()  # anything but text came: a resting reader wakes
        self._thread = threading.Thread(
            target=self._run, args=(events,), name="seedchat-generate", daemon=True
        )
        self._thread.start()

    def _run(self, events: Callable[[], Iterator[Event]]) -> None:
        try:
            for event in events():
                if self._on_event is not None:
                    self._on_event(event)
                self._put(event)
        except BaseException as exc:  # handed to the reader, raised there
            self._put(exc)
        finally:
            self._put(_END)

    def _put(self, item: object) -> None:
        self._queue.put(item)
        if not isinstance(item, TEXT):  # a change of the turn's shape, an error, the end
            self._urgent.set()
        wake = self._wake
        # once per wait, not once per token; the end also cuts a paced reader's pause short
        if wake is not None and (self._waiting or item is _END):
            self._waiting = False
            wake()

    def _drain(self) -> list[object]:
        """What is there now: first what a batch put back, then the queue."""
        items, self._pending = self._pending, []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _take(self, items: list[object]) -> tuple[list[Event], bool]:
        """A batch's events, and whether the stream ended. What the stream raised is raised
        here, once the reader has had the events that came before it."""
        events = [i for i in items if isinstance(i, Event)]
        error = next((i for i in items if isinstance(i, BaseException)), None)
        if error is not None and not events:
            raise error
        if error is not None:
            self._pending = [error]
            return events, False
        return events, any(i is _END for i in items)

    # -- the faces -------------------------------------------------------------------

    def batches(
        self, wait: float | None = None, pause: Callable[[], float] | None = None
    ) -> Iterator[list[Event]]:
        """Lists of events, each everything that arrived since the last (blocking); with
        ``wait``, an empty list after ``wait`` seconds in which nothing came. With ``pause``,
        the reader rests ``pause()`` seconds after each batch (what comes meanwhile joins
        the next), cut short by anything but text (a change of the turn's shape, an error,
        the end): a paced page wakes at its update rate, not once per token, and leaves the
        model's thread the interpreter and the cores."""
        while True:
            self._urgent.clear()  # before the drain: what comes after it ends a rest
            items = self._drain()
            if not items:
                try:
                    items = [self._queue.get(timeout=wait), *self._drain()]
                except queue.Empty:
                    yield []
                    continue
            events, ended = self._take(items)
            if events:
                yield events
            if ended:
                return
            rest = pause() if pause is not None else 0.0
            if rest > 0:
                self._urgent.wait(rest)

    async def abatches(self, pace: float = 0.0) -> AsyncIterator[list[Event]]:
        """The same batches for an event loop: waits without holding a thread. With
        ``pace``, at least ``pace`` seconds after a batch with text before the next (what
        comes meanwhile joins it), so the loop wakes at that rate and not once per token;
        the first text and the end go at once."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:  # the loop is gone (the server stopped): stop the model
                self._stop()

        self._wake = wake
        while True:
            ready.clear()
            self._waiting = True  # before the drain: what comes after it wakes the wait
            items = self._drain()
            if not items:
                await ready.wait()
                continue
            self._waiting = False
            events, ended = self._take(items)
            if events:
                yield events
            if ended:
                return
            if pace and any(isinstance(event, TEXT) for event in events):
                # the first text went at once, later text is paced; the end wakes the pause
                with contextlib.suppress(asyncio.TimeoutError):  # 3.10: not TimeoutError
                    await asyncio.wait_for(ready.wait(), pace)

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop the stream; wait up to ``timeout`` seconds for it to end (None or 0: do
        not wait, as from an event loop)."""
        if self._thread.is_alive():
            self._stop()
            if timeout:
                self._thread.join(timeout)
