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

Steps 2, 4 and 5 are :func:`seedchat.chat.answer.answer`, the one answer path: the API runs
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

With tools on (:attr:`ChatSession.tools`, a :class:`SessionTools` given at construction:
the page and the terminal build it with :meth:`SessionTools.of`), the answer is the tool loop
(:func:`seedchat.chat.tool_loop.answer_with_tools`): each reply of the model is an assistant
message of its own (its calls in ``tool_calls``), each result a ``tool`` message after
it, all on the branch in order; the turns hold them too, so the next prompt, and the
prompt of the conversation reopened, has them (the same bytes). The tools the conversation
switched off (``ChatSettings.tools_off``) are left out here, for every front end.

A store that fails (a full disk) never stops the chat: :attr:`ChatSession.problem` says,
in words for the user, what was not saved, and the answer is saved whole at its end if
the store works again by then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from seedchat.chat.answer import AnswerRecording, ChatEngine, answer
from seedchat.chat.fitting import (
    count_prompt,
    earlier_notice,
    earlier_passages,
    with_passages,
)
from seedchat.chat.tool_loop import answer_with_tools, reply_message, tool_message
from seedchat.documents.read import Document, attach
from seedchat.documents.retrieval import Retrieval
from seedchat.engine.host import local_engine
from seedchat.engine.kv_files import forget_conversation
from seedchat.errors import SeedchatError, StoreError
from seedchat.events import (
    AnswerDelta,
    Done,
    Event,
    Notice,
    ThinkingDelta,
    ToolCall,
    ToolResult,
)
from seedchat.planner import prompt_fits
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings, GenerationOptions, Settings, ToolSettings
from seedchat.store import Store, StreamRecorder
from seedchat.tools.mcp_tools import ChosenTools
from seedchat.tools.protocol import Approver, DenyAll, ToolRunner

log = logging.getLogger(__name__)

#: Whether earlier answers' thinking goes back into the prompt (see the module doc).
HISTORY_THINKING = False


@dataclass(frozen=True)
class Turn:
    """One message of the conversation on screen; ``id`` is its stored message's id. An
    answer's ``tool_calls`` are ``{"name", "arguments", "id"}`` (the arguments as the
    model wrote them); a ``tool`` turn names its call and tool."""

    role: Literal["user", "assistant", "tool"]
    content: str
    thinking: str = ""
    id: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    call_id: str | None = None
    name: str | None = None
    attachments: tuple[Document, ...] = ()  # a question's files (seedchat.documents.read)
    retrieval: Retrieval | None = None  # passages of the files stand in for them (this run)

    def __hash__(self) -> int:
        """By value, though a call's arguments are a dict (the page's state of turns is
        hashed by gradio to see whether it changed)."""
        return hash(repr(self))


@dataclass(frozen=True)
class OpenThread:
    """Where a session is in the store: its saved conversation (None until the first
    question) and the last message of the branch on screen (None: the next is a root)."""

    conversation_id: str | None = None
    leaf_id: str | None = None

    def at(self, leaf_id: str | None) -> OpenThread:
        return OpenThread(self.conversation_id, leaf_id)


@dataclass(frozen=True)
class SessionTools:
    """A session's tools: the runner the model may call, who approves each call (see
    :mod:`seedchat.chat.tool_loop`), the loop's settings."""

    runner: ToolRunner
    approver: Approver = field(default_factory=DenyAll)
    settings: ToolSettings = field(default_factory=ToolSettings)

    @classmethod
    def of(
        cls, runner: ToolRunner | None, approver: Approver, settings: Settings
    ) -> SessionTools | None:
        """The tools of a session of the page or the terminal: ``runner`` (None: tools
        off), asked about by ``approver``, with the settings file's tool settings."""
        if runner is None:
            return None
        return cls(runner, approver, ToolSettings.from_settings(settings))


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
    tools: SessionTools | None = None  # None: tools off, the model answers alone
    said: list[Notice] = field(default_factory=list)  # said before the next answer

    @classmethod
    def resume(
        cls,
        engine: ChatEngine,
        store: Store,
        conversation_id: str,
        default: ChatSettings | None = None,
        model: str | None = None,
        tools: SessionTools | None = None,
    ) -> ChatSession:
        """A saved conversation's active branch, with the settings it was last used with
        (over ``default``). Raises StoreError when it cannot be read."""
        conv = store.get_conversation(conversation_id)
        turns = turns_of(conv.messages)
        leaf = conv.messages[-1].id if conv.messages else None
        settings = ChatSettings.from_record(conv.settings, default)
        thread = OpenThread(conv.id, leaf)
        return cls(engine, store, settings, turns, thread, model, tools=tools)

    def runner(self) -> ToolRunner | None:
        """The tools of the next reply: the session's, less those its conversation switched
        off (``settings.tools_off``); None: tools off."""
        if self.tools is None:
            return None
        off = self.settings.tools_off
        return ChosenTools(self.tools.runner, off) if off else self.tools.runner

    # -- the prompt ------------------------------------------------------------------

    def messages(
        self,
        question: str | None = None,
        attachments: Sequence[Document] = (),
        retrieval: Retrieval | None = None,
    ) -> list[Message]:
        """What the engine is given: the system prompt, the turns, then ``question``; a
        question's files go into its message (:func:`seedchat.documents.read.attach`), or the
        passages of them a ``retrieval`` chose (:mod:`seedchat.documents.retrieval`)."""
        out: list[Message] = []
        system = self.settings.system_prompt.strip()
        if system:
            out.append(Message("system", system))
        for turn in self.turns:
            if turn.role == "tool":
                out.append(tool_message(turn.content))
            elif turn.role == "assistant" and turn.tool_calls:
                out.append(reply_message(turn.content, turn.tool_calls))
            else:
                thinking = turn.thinking if HISTORY_THINKING and turn.thinking else None
                content = _with_files(turn.content, turn.attachments, turn.retrieval)
                out.append(Message(turn.role, content, thinking=thinking))
        if question is not None:
            out.append(Message("user", _with_files(question, attachments, retrieval)))
        return out

    def prompt(
        self,
        question: str,
        attachments: Sequence[Document] = (),
        retrieval: Retrieval | None = None,
    ) -> str:
        """The exact prompt the next turn with ``question`` would send to the model."""
        messages = self.messages(question, attachments, retrieval)
        return self.engine.render(messages, self.generation_options())

    def whole_earlier_files(self) -> list[int]:
        """The turns (their indexes) of earlier questions whose files go in whole."""
        return [
            i
            for i, turn in enumerate(self.turns)
            if turn.role == "user" and turn.attachments and turn.retrieval is None
        ]

    def passages_for(self, question: str, files: Sequence[Document]) -> Retrieval | None:
        """The passages of ``files`` that best match ``question``, as many as the context
        holds after the turns (:func:`seedchat.chat.fitting.with_passages`); None without files
        or for a model on a server (its context is its server's to judge)."""
        engine = local_engine(self.engine, templated=True)
        if engine is None or not files:
            return None
        messages = self.messages(question, files)
        options = self.generation_options()
        index = len(messages) - 1
        return with_passages(engine, messages, index, question, files, options)[1]

    def fit_earlier_files(
        self, question: str | None = None, files: Sequence[Document] = ()
    ) -> None:
        """When the next prompt (the turns, then ``question`` with ``files``; without one,
        the turns alone: a regenerated or edited last question) does not fit whole, the
        questions' files not already given as passages (a conversation reopened after it
        was answered from passages: which passages is not saved) go as the passages that
        match their question and ``question`` (:func:`seedchat.chat.fitting.earlier_passages`),
        an earlier question's said before the answer. Files that fit go whole, as the
        first time."""
        engine = local_engine(self.engine, templated=True)
        whole = self.whole_earlier_files()
        if engine is None or not whole:
            return
        options = self.generation_options()
        tokens = count_prompt(engine, self.messages(question, files), options)
        if prompt_fits(tokens, engine.n_ctx, options.max_tokens):
            return
        first = len(self.messages()) - len(self.turns)  # the system prompt's message
        earlier = [(first + i, self.turns[i].content, self.turns[i].attachments) for i in whole]
        found = earlier_passages(
            engine,
            self.messages(question),  # the question's own files go in after, in their room
            earlier,
            question or "",
            options,
            files_follow=bool(files),
        )
        answered = len(self.turns) - 1 if question is None else None  # its footer says it
        for i, retrieval in zip(whole, found, strict=False):
            self.turns[i] = dataclasses.replace(self.turns[i], retrieval=retrieval)
            if i != answered:
                self.said.append(earlier_notice(retrieval))

    def generation_options(self) -> GenerationOptions:
        """A reply's options: the settings, and the tools' definitions when tools are on."""
        runner = self.runner()
        if runner is None:
            return self.settings.generation_options()
        return self.settings.generation_options(tools=runner.specs())

    # -- turns -----------------------------------------------------------------------

    def turn(
        self,
        text: str,
        cancel: threading.Event | None = None,
        attachments: Sequence[Document] = (),
        retrieval: Retrieval | None = None,
    ) -> Iterator[Event]:
        """Ask ``text`` (with the files ``attachments``, whole or, with ``retrieval``, the
        passages it chose): save it, stream the answer's events (saving them), keep both."""
        self.problem = None
        files = tuple(attachments)
        question_id = self._save(lambda: self._add_question(text, files))
        self.turns.append(
            Turn("user", text, id=question_id, attachments=files, retrieval=retrieval)
        )
        yield from self._answer(cancel, self._record_answer, self._notices(retrieval))

    def regenerate(self, cancel: threading.Event | None = None) -> Iterator[Event]:
        """A new answer to the last question, beside the old one (which stays saved)."""
        self.problem = None
        last = max((i for i, t in enumerate(self.turns) if t.role == "user"), default=None)
        if last is None:
            raise SeedchatError("There is nothing to regenerate yet.", hint="Ask something.")
        # the answer to the question: its first reply (a tool loop's calls and results and
        # later replies hang below it, and stay saved with it)
        after = self.turns[last + 1 : last + 2]
        old = after[0] if after and after[0].role == "assistant" else None
        del self.turns[last + 1 :]
        self.thread = self.thread.at(self.turns[-1].id)  # the answer hangs from the question
        self.fit_earlier_files()
        notices = self._notices(self.turns[last].retrieval)
        if old is None or old.id is None:
            yield from self._answer(cancel, self._record_answer, notices)
            return

        def beside_old() -> StreamRecorder:
            return self.store.regenerate(
                old.id, settings=self.settings.to_record(), model=self.model
            )

        yield from self._answer(cancel, beside_old, notices)

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
        self.fit_earlier_files()
        yield from self._answer(
            cancel, self._record_answer, self._notices(self.turns[-1].retrieval)
        )

    def _notices(self, retrieval: Retrieval | None) -> list[Notice]:
        """Said before the answer: earlier files given as passages, then the question's
        own passages (``retrieval``); what was said is then taken."""
        notices = [*self.said, *([retrieval.notice] if retrieval is not None else [])]
        self.said.clear()
        return notices

    def _answer(
        self,
        cancel: threading.Event | None,
        start: Callable[[], StreamRecorder],
        notices: Sequence[Notice] = (),
    ) -> Iterator[Event]:
        """The answer's events; ``notices`` come first (and are saved with its first reply)."""
        starts = [start]  # the first reply's message; a tool loop's later ones: new answers
        recordings: list[AnswerRecording] = []

        def begin() -> AnswerRecording:
            recording = AnswerRecording(None, self._note_problem)
            thread = self.thread
            saving = thread.conversation_id is not None and thread.leaf_id is not None
            if saving and self.can_save:
                begin_reply = starts.pop() if starts else self._record_answer
                recording = AnswerRecording.begin(begin_reply, self._note_problem)
            if recording.answer_id is not None:
                self.thread = thread.at(recording.answer_id)
            if not recordings:
                for notice in notices:
                    recording.on_event(notice)
            recordings.append(recording)
            return recording

        # the engine names its saved KV state after the conversation (deleted with it)
        conversation = self.thread.conversation_id
        runner = self.runner()
        if self.tools is None or runner is None:
            events = answer(
                self.engine,
                self.messages(),
                self.settings,
                cancel,
                begin(),
                conversation=conversation,
            )
        else:
            events = answer_with_tools(
                self.engine,
                self.messages(),
                self.settings,
                cancel,
                begin,
                runner,
                self.tools.approver,
                self.tools.settings,
                conversation=conversation,
            )
        reply = _Reply()
        with contextlib.closing(events):
            yield from notices
            for event in events:
                if isinstance(event, ToolResult):
                    self._keep_tool_result(event)
                elif isinstance(event, Done):
                    self._keep_reply(reply, recordings[-1].answer_id if recordings else None)
                    reply = _Reply()
                else:
                    reply.take(event)
                yield event
        self._keep_reply(reply, recordings[-1].answer_id if recordings else None)

    def _keep_reply(self, reply: _Reply, answer_id: str | None) -> None:
        """A reply joins the turns (once), if it has text or calls."""
        content = "".join(reply.text).strip()
        if reply.kept or not (content or reply.calls):
            return
        reply.kept = True
        thinking = "".join(reply.thinking)
        self.turns.append(Turn("assistant", content, thinking, answer_id, tuple(reply.calls)))

    def _keep_tool_result(self, result: ToolResult) -> None:
        """A tool turn: saved under the reply that called it, and kept."""

        def save() -> str:
            stats = {"is_error": result.is_error, "cut": result.cut, "seconds": result.seconds}
            if result.server:
                stats["server"] = result.server
            if result.media:  # its images and resources, for the page's card
                stats["media"] = [dataclasses.asdict(m) for m in result.media]
            msg = self.store.add_message(
                self.thread.conversation_id,
                "tool",
                result.content,
                parent_id=self.thread.leaf_id,
                tool_call_id=result.call_id,
                tool_name=result.name,
                stats=stats,
            )
            self.thread = self.thread.at(msg.id)
            return msg.id

        saved = self._save(save) if self.thread.leaf_id is not None else None
        self.turns.append(
            Turn("tool", result.content, id=saved, call_id=result.call_id, name=result.name)
        )

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


def _with_files(text: str, files: Sequence[Document], retrieval: Retrieval | None) -> str:
    """A question's message: the passages ``retrieval`` chose, else the files whole."""
    return retrieval.text if retrieval is not None else attach(text, files)


def delete_conversation(store: Store, conversation_id: str) -> None:
    """Move a conversation to the trash and delete the KV states saved from it: they are
    cache, not data (after an undo, its next answer reads the prompt again)."""
    store.delete(conversation_id)
    try:
        forget_conversation(conversation_id)
    except OSError as exc:
        log.warning("could not delete the saved KV states of %s: %s", conversation_id, exc)


def turns_of(messages: Sequence[Any]) -> list[Turn]:
    """The turns of a stored branch: questions, the answers that have text or tool calls
    (an answer that failed or is empty is not sent back to the model), tool results."""
    turns: list[Turn] = []
    for msg in messages:
        calls = tuple(_call(c) for c in msg.tool_calls or ())
        if msg.role == "user":
            files = tuple(getattr(msg, "attachments", ()))
            turns.append(Turn("user", msg.content, id=msg.id, attachments=files))
        elif msg.role == "assistant" and msg.status != "error":
            if msg.content.strip() or calls:
                content = msg.content.strip()
                turns.append(Turn("assistant", content, msg.thinking or "", msg.id, calls))
        elif msg.role == "tool":
            call_id, name = msg.tool_call_id, msg.tool_name
            turns.append(Turn("tool", msg.content, id=msg.id, call_id=call_id, name=name))
    return turns


def _call(call: dict[str, Any]) -> dict[str, Any]:
    """A saved call as a turn holds it (as :class:`_Reply` does)."""
    return {
        "name": call.get("name", ""),
        "arguments": call.get("arguments") or {},
        "id": call.get("id", ""),
    }


@dataclass
class _Reply:
    """What one reply of the model streamed so far (a tool loop has several a turn)."""

    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    kept: bool = False

    def take(self, event: Event) -> None:
        if isinstance(event, AnswerDelta):
            self.text.append(event.text)
        elif isinstance(event, ThinkingDelta):
            self.thinking.append(event.text)
        elif isinstance(event, ToolCall):
            self.calls.append({"name": event.name, "arguments": event.arguments, "id": event.id})
