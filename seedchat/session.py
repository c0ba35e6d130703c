"""One chat session: what happens in one turn, the same for every front end.

The web UI and ``seedchat chat`` hold a :class:`ChatSession` and only draw its events. A session is a conversation on screen: its turns (the branch
shown), the saved conversation they belong to, and its :class:`ChatSettings`::

    session = ChatSession(engine, store, settings)       # or ChatSession.resume(...)
    for event in session.turn("What is 12 + 7?", cancel):
        draw(event)

One turn, in order:

1. The question is saved before the model starts (the first one creates the saved
   conversation), under the branch on screen.
2. The answer is created at once as a ``partial`` message under it, with the settings and
   the model it is generated with (:meth:`Store.record_stream`).
3. The prompt is the system prompt, then the turns (:meth:`ChatSession.messages`), then
   the question; the engine renders it with the model's own template.
4. Every event the engine streams goes to the store's recorder (flushed about once a
   second, so a crash loses at most a second) and then to the front end.
5. ``Done`` saves the answer whole with its statistics; a stop, a closed page or an error
   saves it as ``cancelled``/``error`` instead. The answer joins the turns.

Steps 2, 4 and 5 are :func:`seedchat.answer.answer`, the one answer path: the API runs
its requests through it too, without a session (a request's messages are its history).

:meth:`ChatSession.regenerate` writes a new answer beside the last one and
:meth:`ChatSession.edit_last` a new question beside the last one: both are branches in the
store, so the old text stays as a sibling (see ``seedchat history export``).

Earlier thinking is left out of the prompt (:data:`HISTORY_THINKING`). Seed's template
would put an earlier answer's ``reasoning_content`` back inside ``<seed:think>`` tags, but
the text it renders is not what the model wrote (the reflect reports are not in the
thinking text, the template trims it), so the cached tokens stop matching at the first
line of that thinking anyway: keeping it would not let the KV prefix be reused further,
and it would spend context on every later turn (Seed-OSS's thinking is often many times
longer than its answer). Every front end makes the same prompt of the same
conversation (``seedchat chat --conversation ID --show-prompt`` prints it).

A store that fails (a full disk) never stops the chat: :attr:`ChatSession.problem` says,
in words for the user, what was not saved, and the answer is saved whole at its end if
the store works again by then.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from seedchat.answer import AnswerRecording, ChatEngine, answer
from seedchat.documents import Document, attach
from seedchat.errors import SeedchatError, StoreError
from seedchat.events import AnswerDelta, Event, ThinkingDelta
from seedchat.kv_files import forget_conversation
from seedchat.prompt import Message
from seedchat.settings import ChatSettings
from seedchat.store import Store, StreamRecorder

log = logging.getLogger(__name__)

#: Whether earlier answers' thinking goes back into the prompt (see the module doc).
HISTORY_THINKING = False


@dataclass(frozen=True)
class Turn:
    """One message of the conversation on screen; ``id`` is its stored message's id."""

    role: Literal["user", "assistant"]
    content: str
    thinking: str = ""
    id: str | None = None
    attachments: tuple[Document, ...] = ()  # a question's files (seedchat.documents)


@dataclass(frozen=True)
class OpenThread:
    """Where a session is in the store: its saved conversation (None until the first
    question) and the last message of the branch on screen (None: the next is a root)."""

    conversation_id: str | None = None
    leaf_id: str | None = None

    def at(self, leaf_id: str | None) -> OpenThread:
        return OpenThread(self.conversation_id, leaf_id)


def open_store() -> tuple[Store | None, SeedchatError | None]:
    """The conversation store, or None and why it could not be opened: a chat then goes
    on without saving (and says so) rather than not starting."""
    try:
        return Store(), None
    except SeedchatError as err:
        log.warning("conversations are not being saved: %s", err)
        return None, err


@dataclass
class ChatSession:
    """A conversation on screen and the turns run on it (see the module doc)."""

    engine: ChatEngine
    store: Store | None
    settings: ChatSettings = field(default_factory=ChatSettings)
    turns: list[Turn] = field(default_factory=list)
    thread: OpenThread = field(default_factory=OpenThread)
    model: str | None = None  # the model's name, recorded with each saved answer
    problem: str | None = None  # what the last turn could not save, in words for the user

    @classmethod
    def resume(
        cls,
        engine: ChatEngine,
        store: Store,
        conversation_id: str,
        default: ChatSettings | None = None,
        model: str | None = None,
    ) -> ChatSession:
        """A saved conversation's active branch, with the settings it was last used with
        (over ``default``). Raises StoreError when it cannot be read."""
        conv = store.get_conversation(conversation_id)
        turns = turns_of(conv.messages)
        leaf = conv.messages[-1].id if conv.messages else None
        settings = ChatSettings.from_record(conv.settings, default)
        return cls(engine, store, settings, turns, OpenThread(conv.id, leaf), model)

    # -- the prompt ------------------------------------------------------------------

    def messages(
        self, question: str | None = None, attachments: Sequence[Document] = ()
    ) -> list[Message]:
        """What the engine is given: the system prompt, the turns, then ``question``; a
        question's files go into its message (:func:`seedchat.documents.attach`)."""
        out: list[Message] = []
        system = self.settings.system_prompt.strip()
        if system:
            out.append(Message("system", system))
        for turn in self.turns:
            thinking = turn.thinking if HISTORY_THINKING and turn.thinking else None
            content = attach(turn.content, turn.attachments)
            out.append(Message(turn.role, content, thinking=thinking))
        if question is not None:
            out.append(Message("user", attach(question, attachments)))
        return out

    def prompt(self, question: str, attachments: Sequence[Document] = ()) -> str:
        """The exact prompt the next turn with ``question`` would send to the model."""
        messages = self.messages(question, attachments)
        return self.engine.render(messages, self.settings.generation_options())

    # -- turns -----------------------------------------------------------------------

    def turn(
        self,
        text: str,
        cancel: threading.Event | None = None,
        attachments: Sequence[Document] = (),
    ) -> Iterator[Event]:
        """Ask ``text`` (with the files ``attachments``): save it, stream the answer's
        events (saving them), keep both."""
        self.problem = None
        files = tuple(attachments)
        question_id = self._save(lambda: self._add_question(text, files))
        self.turns.append(Turn("user", text, id=question_id, attachments=files))
        yield from self._answer(cancel, self._record_answer)

    def regenerate(self, cancel: threading.Event | None = None) -> Iterator[Event]:
        """A new answer to the last question, beside the old one (which stays saved)."""
        self.problem = None
        old = self.turns.pop() if self.turns and self.turns[-1].role == "assistant" else None
        if not self.turns:
            raise SeedchatError("There is nothing to regenerate yet.", hint="Ask something.")
        self.thread = self.thread.at(self.turns[-1].id)  # the answer hangs from the question
        if old is None or old.id is None:
            yield from self._answer(cancel, self._record_answer)
            return

        def beside_old() -> StreamRecorder:
            return self.store.regenerate(
                old.id, settings=self.settings.to_record(), model=self.model
            )

        yield from self._answer(cancel, beside_old)

    def edit_last(self, text: str, cancel: threading.Event | None = None) -> Iterator[Event]:
        """Replace the last question by ``text`` (the old one stays saved beside it) and
        answer it."""
        self.problem = None
        last = max((i for i, t in enumerate(self.turns) if t.role == "user"), default=None)
        if last is None:
            raise SeedchatError("There is no question to edit yet.", hint="Ask something.")
        old = self.turns[last]
        del self.turns[last:]
        if old.id is None:
            question_id = self._save(lambda: self._add_question(text, old.attachments))
        else:
            question_id = self._save(lambda: self._edit_question(old.id, text))
        self.turns.append(Turn("user", text, id=question_id, attachments=old.attachments))
        yield from self._answer(cancel, self._record_answer)

    def _answer(
        self, cancel: threading.Event | None, start: Callable[[], StreamRecorder]
    ) -> Iterator[Event]:
        recording = AnswerRecording(None, self._note_problem)
        thread = self.thread
        if thread.conversation_id is not None and thread.leaf_id is not None and self.can_save:
            recording = AnswerRecording.begin(start, self._note_problem)
        if recording.answer_id is not None:
            self.thread = thread.at(recording.answer_id)
        answer_text: list[str] = []
        thinking: list[str] = []
        # the engine names its saved KV state after the conversation (deleted with it)
        events = answer(
            self.engine,
            self.messages(),
            self.settings,
            cancel,
            recording,
            conversation=self.thread.conversation_id,
        )
        with contextlib.closing(events):
            for event in events:
                if isinstance(event, AnswerDelta):
                    answer_text.append(event.text)
                elif isinstance(event, ThinkingDelta):
                    thinking.append(event.text)
                yield event
        content = "".join(answer_text).strip()
        if content:
            self.turns.append(Turn("assistant", content, "".join(thinking), recording.answer_id))

    # -- the store -------------------------------------------------------------------

    @property
    def can_save(self) -> bool:
        """Whether this turn saves: a store, and no write of the turn failed yet (after a
        failure no new message is started; the answer is still saved whole at its end)."""
        return self.store is not None and not self.problem

    def _note_problem(self, problem: str | None) -> None:
        self.problem = problem if problem is None else self.problem or problem

    def _save(self, action: Callable[[], Any]) -> Any:
        """Run a store write; a failure is logged and said in ``problem``, never raised."""
        if not self.can_save:
            return None
        try:
            return action()
        except StoreError as err:
            log.warning("could not save the conversation: %s", err)
            self._note_problem(f"This reply is not being saved: {err.message}")
            return None

    def _add_question(self, text: str, attachments: Sequence[Document] = ()) -> str:
        conv_id = self.thread.conversation_id
        if conv_id is None:
            conv_id = self.store.create_conversation(settings=self.settings.to_record()).id
            self.thread = OpenThread(conv_id)
        msg = self.store.add_message(
            conv_id, "user", text, parent_id=self.thread.leaf_id, attachments=attachments
        )
        self.thread = self.thread.at(msg.id)
        return msg.id

    def _edit_question(self, question_id: str, text: str) -> str:
        msg = self.store.edit_message(question_id, text)
        self.thread = OpenThread(msg.conversation_id, msg.id)
        return msg.id

    def _record_answer(self) -> StreamRecorder:
        """A new answer under the branch's last message (the question)."""
        return self.store.record_stream(
            self.thread.conversation_id,
            parent_id=self.thread.leaf_id,
            settings=self.settings.to_record(),
            model=self.model,
        )


def delete_conversation(store: Store, conversation_id: str) -> None:
    """Move a conversation to the trash and delete the KV states saved from it: they are
    cache, not data (after an undo, its next answer reads the prompt again)."""
    store.delete(conversation_id)
    try:
        forget_conversation(conversation_id)
    except OSError as exc:
        log.warning("could not delete the saved KV states of %s: %s", conversation_id, exc)


def turns_of(messages: Sequence[Any]) -> list[Turn]:
    """The turns of a stored branch: questions, and the answers that have text (an answer
    that failed or is empty is not sent back to the model)."""
    turns: list[Turn] = []
    for msg in messages:
        if msg.role == "user":
            files = tuple(getattr(msg, "attachments", ()))
            turns.append(Turn("user", msg.content, id=msg.id, attachments=files))
        elif msg.role == "assistant" and msg.content.strip() and msg.status != "error":
            turns.append(Turn("assistant", msg.content.strip(), msg.thinking or "", msg.id))
    return turns
