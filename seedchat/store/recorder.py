"""Record one streamed answer into the store as it is generated.

::

    recorder = store.record_stream(conversation_id, user_message.id, settings)
    for event in engine.generate(...):
        recorder.on_event(event)      # cheap: appends to memory, no disk I/O
        ...                           # a Done event stores the stats and finishes
    recorder.finish("cancelled")      # only if the stream stopped without Done

or as a context manager (``with store.record_stream(...) as recorder:``), which
finishes with ``cancelled`` when the block ends without a ``Done`` event and with
``error`` (and the exception's text) when it raises.

The assistant message exists in the database from the start with status
``partial``. A background thread writes what has arrived at most once per
``flush_interval`` seconds (1 s), so after a crash or a kill the message is there
with its text up to the last flush. A failed flush (full disk) is logged, kept in
``last_error`` and retried at the next one; nothing is dropped from memory.
``finish`` writes everything in one transaction and raises :class:`StoreError`
when it cannot (call it again once the problem is fixed).

The recorder writes through the record functions of :mod:`seedchat.store.records`
over the store's :class:`~seedchat.store.db.Db` (``store.record_stream`` makes it).

Reflect reports are stored as dicts ``{used, remaining, exhausted, raw, true_count,
injected, offset}``, ``offset`` being where in the thinking text the report came.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict
from typing import Any

from seedchat.errors import StoreError
from seedchat.events import (
    AnswerDelta,
    Done,
    Event,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.store.db import Db
from seedchat.store.records import StoredMessage, update_conversation, update_message

log = logging.getLogger(__name__)

_STATUS_FOR_FINISH = {"stop": "complete", "length": "complete", "cancelled": "cancelled"}


def status_for(finish_reason: str) -> str:
    """The stored status of an answer whose stream ended with ``finish_reason``."""
    return _STATUS_FOR_FINISH.get(finish_reason, "error")


class StreamRecorder:
    """Collects the events of one assistant message and saves them (see the module doc)."""

    def __init__(self, db: Db, message: StoredMessage, flush_interval: float = 1.0) -> None:
        self.db = db
        self.message = message
        self.flush_interval = flush_interval
        self.flush_count = 0
        self.last_error: StoreError | None = None
        self._lock = threading.Lock()
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._thinking_len = 0
        self._reflects: list[dict[str, Any]] = []
        self._tool_calls: list[dict[str, Any]] = []
        self._notices: list[dict[str, Any]] = []
        self._thinking_tokens: int | None = None
        self._stats: dict[str, Any] = {}
        self._finish_reason: str | None = None
        self._changes = 0
        self._flushed = 0
        self._finished = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def message_id(self) -> str:
        return self.message.id

    # -- the hot path ----------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Take one engine event. Only a ``Done`` event touches the disk (it finishes)."""
        if self._finished:
            return
        with self._lock:
            self._collect(event)
            self._changes += 1
        if isinstance(event, Done):
            self.finish(status_for(event.finish_reason))
        elif self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"seedchat-recorder-{self.message.id[:8]}", daemon=True
            )
            self._thread.start()

    def _collect(self, event: Event) -> None:
        """Add ``event`` to what is kept in memory (the caller holds the lock)."""
        if isinstance(event, AnswerDelta):
            self._content.append(event.text)
        elif isinstance(event, ThinkingDelta):
            self._thinking.append(event.text)
            self._thinking_len += len(event.text)
            self._thinking_tokens = event.tokens
        elif isinstance(event, Reflect):
            self._reflects.append({**asdict(event), "offset": self._thinking_len})
        elif isinstance(event, ThinkingEnd):
            self._thinking_tokens = event.tokens
            self._stats.update(
                thinking_seconds=event.seconds,
                thinking_forced=event.forced,
                thinking_unclosed=event.unclosed,
            )
        elif isinstance(event, ThinkingStart):
            self._stats["thinking_by_template"] = event.by_template
            if event.approximate:
                self._stats["thinking_approximate"] = True
        elif isinstance(event, ToolCall):
            call = asdict(event)
            if not call["id"]:  # the parser gives every call its id; a stand-in may not
                del call["id"]
            self._tool_calls.append(call)
        elif isinstance(event, Notice):
            self._notices.append(asdict(event))
        elif isinstance(event, Done):
            stats = event.to_dict()
            stats.pop("type")
            self._stats.update(stats)
            self._finish_reason = event.finish_reason
            if event.thinking_tokens:
                self._thinking_tokens = event.thinking_tokens

    @property
    def content(self) -> str:
        with self._lock:
            return "".join(self._content)

    @property
    def thinking(self) -> str:
        with self._lock:
            return "".join(self._thinking)

    # -- writing -----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            if self._changes != self._flushed:
                self.flush()

    def _snapshot(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            content = "".join(self._content)
            self._content = [content]
            thinking = "".join(self._thinking)
            self._thinking = [thinking]
            values = {
                "content": content,
                "thinking": thinking,
                "reflects": list(self._reflects),
                "thinking_tokens": self._thinking_tokens,
                "tool_calls": list(self._tool_calls),
                "notices": list(self._notices),
                "stats": dict(self._stats),
            }
            return self._changes, values

    def flush(self) -> bool:
        """Write what has arrived (status stays ``partial``); False when the write failed."""
        changes, values = self._snapshot()
        try:
            update_message(self.db, self.message.id, **values)
        except StoreError as err:
            if self.last_error is None:
                log.warning("could not save the answer being generated: %s", err)
            self.last_error = err
            return False
        self._flushed = changes
        self.flush_count += 1
        return True

    def finish(self, status: str = "complete", error: str | None = None) -> StoredMessage:
        """Stop the flushing thread and write the whole message with its final ``status``."""
        if self._finished:
            return self.message
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        _, values = self._snapshot()
        if self._finish_reason is None and status == "cancelled":
            self._finish_reason = "cancelled"
        values.update(status=status, finish_reason=self._finish_reason, error=error)
        now = time.time()
        update_message(self.db, self.message.id, updated_at=now, **values)
        update_conversation(self.db, self.message.conversation_id, touch=True)
        self._finished = True
        self.last_error = None
        for key, value in values.items():
            setattr(self.message, key, value)
        self.message.updated_at = now
        return self.message

    @property
    def finished(self) -> bool:
        return self._finished

    def __enter__(self) -> StreamRecorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb
    ) -> None:
        if self._finished:
            return
        if exc is None or isinstance(exc, KeyboardInterrupt):
            self.finish("cancelled")
        else:
            self.finish("error", error=f"{type(exc).__name__}: {exc}")
