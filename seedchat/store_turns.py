"""Saving a chat turn as it happens, for the web UI and ``seedchat chat`` alike.

An :class:`OpenThread` says which saved conversation a chat shows and which message ends
the branch on screen. :func:`save_question` stores the user's message under it (a new
conversation if none is open); :class:`TurnSaver` stores one whole turn: the question
before the model starts, the answer while it streams (through the store's recorder,
flushed about once a second), its final state at the end. A store that fails (a full
disk) never stops the chat: the saver says, in words for the user, what was not saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seedchat.errors import SeedchatError, StoreError
from seedchat.events import Event

if TYPE_CHECKING:
    from seedchat.store import Store
    from seedchat.store_recorder import StreamRecorder

log = logging.getLogger(__name__)


def open_store() -> tuple[Store | None, SeedchatError | None]:
    """The conversation store, or None and why it could not be opened: a chat then goes
    on without saving (and says so) rather than not starting."""
    from seedchat.store import Store

    try:
        return Store(), None
    except SeedchatError as err:
        log.warning("conversations are not being saved: %s", err)
        return None, err


@dataclass(frozen=True)
class OpenThread:
    """What one tab shows: a saved conversation (None until the first message) and the
    id of the last message of the branch on screen (None: the next message is a root)."""

    conversation_id: str | None = None
    leaf_id: str | None = None

    def at(self, leaf_id: str | None) -> OpenThread:
        return OpenThread(self.conversation_id, leaf_id)


def save_question(
    store: Store, thread: OpenThread, text: str, settings: dict[str, Any]
) -> tuple[OpenThread, str]:
    """Store the user's message under the tab's branch (a new conversation if none is
    open); returns the thread ending at it and its id. Raises StoreError."""
    conv_id = thread.conversation_id
    if conv_id is None:
        conv_id = store.create_conversation(settings=settings).id
    msg = store.add_message(conv_id, "user", text, parent_id=thread.leaf_id)
    return OpenThread(conv_id, msg.id), msg.id


class TurnSaver:
    """Saves one turn of a tab as it happens; a store that fails never stops the chat.

    ``question`` stores the user's message, ``answer`` starts the streamed answer under
    the thread's leaf, ``on_event`` feeds it, ``finish`` ends it if the stream did not
    (stop, error). After a failed write ``problem`` says, in words for the page, that the
    turn is not being saved; no new message is started, but the answer's events are kept
    and ``finish`` tries once more to save it whole (then ``problem`` is cleared).
    """

    def __init__(
        self,
        store: Store | None,
        thread: OpenThread,
        settings: dict[str, Any],
        model: str | None = None,
    ) -> None:
        self.store = store
        self.thread = thread
        self.settings = settings
        self.model = model
        self.problem: str | None = None
        self.recorder: StreamRecorder | None = None

    def _guard(self, action: Callable[[], Any], retry: bool = False) -> Any:
        if self.store is None or (self.problem and not retry):
            return None
        try:
            return action()
        except StoreError as err:
            log.warning("could not save the conversation: %s", err)
            self.problem = self.problem or f"This reply is not being saved: {err.message}"
            return None

    def question(self, text: str) -> str | None:
        """Store the user's message; its id (None when not saved)."""

        def save() -> str:
            self.thread, message_id = save_question(self.store, self.thread, text, self.settings)
            return message_id

        return self._guard(save)

    def answer(self) -> str | None:
        """Start the answer under the thread's leaf (a question); its id."""
        if self.thread.conversation_id is None or self.thread.leaf_id is None:
            return None

        def start() -> str:
            self.recorder = self.store.record_stream(
                self.thread.conversation_id,
                parent_id=self.thread.leaf_id,
                settings=self.settings,
                model=self.model,
            )
            self.thread = self.thread.at(self.recorder.message_id)
            return self.recorder.message_id

        return self._guard(start)

    @property
    def answer_id(self) -> str | None:
        return self.recorder.message_id if self.recorder is not None else None

    def on_event(self, event: Event) -> None:
        # Kept in memory even after a failed write: finishing retries with everything.
        if self.recorder is not None:
            self._guard(lambda: self.recorder.on_event(event), retry=True)

    def finish(self, status: str = "cancelled", error: str | None = None) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        if not recorder.finished:
            self._guard(lambda: recorder.finish(status, error=error), retry=True)
        if recorder.finished:  # saved whole in the end: an earlier failed write is moot
            self.problem = None
