"""The one answer path: a reply of the model, streamed and saved, for every front end.

The page and ``seedchat chat`` (through :class:`~seedchat.chat.session.ChatSession`) and the API
(:mod:`seedchat.api.calls`, stateless: a request's messages are the history) all call
:func:`answer`::

    recording = AnswerRecording.begin(lambda: store.record_stream(...))
    for event in answer(engine, messages, settings, cancel, recording=recording):
        draw(event)

It renders nothing and decides nothing of its own: the engine renders the messages with
the model's template, keeps the thinking budget (:mod:`seedchat.engine.reply_budget`) and streams
typed events. :func:`answer` hands each event to the recording before the front end sees
it, and ends the recording with the reply: ``Done`` saves it whole with its statistics; a
stop, a closed page or client, or an error saves it as ``cancelled``/``error``.

:class:`AnswerRecording` is the one store-tolerant recorder: a store that fails (a full
disk) never stops an answer. The failure is logged and said in :attr:`AnswerRecording.problem`
(in words for the user); the recorder keeps every event in memory, and the end of the
reply tries once more to save the answer whole.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from seedchat.errors import SeedchatError, StoreError
from seedchat.events import Done, Event
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings, GenerationOptions
from seedchat.store import StreamRecorder, status_for

log = logging.getLogger(__name__)


class ChatEngine(Protocol):
    """What an answer needs of an engine: a local :class:`~seedchat.engine.local.Engine`, a
    :class:`~seedchat.engine.remote.RemoteEngine` or the app's :class:`~seedchat.engine.host.ModelHost`."""

    def generate(
        self,
        messages: Sequence[Message] | str,
        options: GenerationOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]: ...

    def render(self, messages: Sequence[Message], options: GenerationOptions) -> str: ...


#: Told what could not be saved (in words for the user), or None once the answer is saved.
ProblemSink = Callable[[str | None], None]


class AnswerRecording:
    """One answer saved while it streams; a store that fails never stops the answer.

    ``recorder`` is None when nothing is saved (no store, or it could not start the
    message). After a failed write the events are still kept, and :meth:`finish` tries
    once more to save the answer whole; ``on_problem`` hears of each change.
    """

    def __init__(self, recorder: StreamRecorder | None, on_problem: ProblemSink | None = None):
        self.recorder = recorder
        self.problem: str | None = None
        self._on_problem = on_problem

    @classmethod
    def begin(
        cls, start: Callable[[], StreamRecorder], on_problem: ProblemSink | None = None
    ) -> AnswerRecording:
        """Start the answer's message with ``start``; a store error records nothing."""
        recording = cls(None, on_problem)
        try:
            recording.recorder = start()
        except StoreError as err:
            recording.failed(err)
        return recording

    @property
    def answer_id(self) -> str | None:
        return self.recorder.message_id if self.recorder is not None else None

    @property
    def saved(self) -> bool:
        return self.recorder is not None and self.recorder.finished

    def failed(self, err: StoreError) -> None:
        log.warning("could not save the answer: %s", err)
        self.problem = self.problem or f"This reply is not being saved: {err.message}"
        if self._on_problem is not None:
            self._on_problem(self.problem)

    def on_event(self, event: Event) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.on_event(event)
        except StoreError as err:
            self.failed(err)

    def finish(self, status: str, error: str | None = None) -> None:
        """Save the answer whole as ``status`` (a no-op once it was)."""
        recorder = self.recorder
        if recorder is None:
            return
        if not recorder.finished:
            try:
                recorder.finish(status, error=error)
            except StoreError as err:
                self.failed(err)
        if recorder.finished and self.problem is not None:
            self.problem = None  # saved whole in the end: an earlier failed write is moot
            if self._on_problem is not None:
                self._on_problem(None)


def answer(
    engine: ChatEngine,
    messages: Sequence[Message] | str,
    settings: ChatSettings,
    cancel: threading.Event | None = None,
    recording: AnswerRecording | None = None,
    **options: object,
) -> Iterator[Event]:
    """The events of one reply to ``messages`` (a plain text with ``raw=True``), each
    recorded before it is yielded. ``options`` are the reply's own
    (:class:`GenerationOptions`: ``raw``, ``tools``, ``conversation``)."""
    recording = recording or AnswerRecording(None)
    generation = settings.generation_options(**options)
    done: Done | None = None
    try:
        for event in engine.generate(messages, generation, cancel):
            recording.on_event(event)
            if isinstance(event, Done):
                done = event
            yield event
    except SeedchatError as err:
        recording.finish("error", error=err.message)
        raise
    finally:
        # a no-op once the answer's Done was saved; else (a stop, a closed page, a write
        # that failed) the answer is saved whole now, as its end says
        recording.finish(status_for(done.finish_reason) if done else "cancelled")
