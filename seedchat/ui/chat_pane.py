"""The chat pane: the conversation, the message box, send, stop, regenerate, edit.

Every turn is a :class:`~seedchat.chat.session.ChatSession` turn (the same as in
``seedchat chat``), built from the tab's state: the turns on screen, where they are in the
store (:class:`~seedchat.chat.session.OpenThread`) and the settings panel's values. The model
decodes in its own thread (:class:`~seedchat.chat.pump.EventPump`); the page is drawn at a
frame rate (:class:`~seedchat.ui.pacing.UpdatePacer`), each update taking everything that
arrived meanwhile, with no progress animation, so drawing takes as little as it can from the
model; a page that goes away stops the model.

A message with siblings in the store (regenerate and edit make them) shows ``‹ 2 / 3 ›``
(:mod:`seedchat.ui.render`); the page's script (:data:`BRANCH_JS`) turns a click on an
arrow into a new value of the hidden ``#branch-switch`` box, and :func:`switch_branch` shows
that branch, which becomes the store's active one. After every turn the chat is drawn
from the store, so the new answer or question shows its control.

Handlers take their inputs by name (``inputs_kwargs``) and return updates as a dict of
component → value, so each says what it reads and what it changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from seedchat.budget_lab.runner import answer_at_budgets, parse_budgets
from seedchat.chat.pump import EventPump
from seedchat.chat.session import ChatSession, OpenThread, SessionTools, Turn
from seedchat.documents.read import DocumentError
from seedchat.engine.host import ModelHost
from seedchat.errors import SeedchatError
from seedchat.events import Done, Event, Notice
from seedchat.store import Store
from seedchat.ui.attachments import message_parts, message_value, read_uploads
from seedchat.ui.context_meter import (
    SEND_EMPTIED,
    ContextMeter,
    MeterTargets,
    refuse_if_too_long,
)
from seedchat.ui.conversations import open_conversation, switch_branch
from seedchat.ui.models_tab import status_markdown
from seedchat.ui.outside_images import LATEX
from seedchat.ui.pacing import UpdatePacer
from seedchat.ui.page_tools import PageTools
from seedchat.ui.render import BRANCH_LINK, ChatMessage, user_message
from seedchat.ui.settings_panel import SettingsPanel
from seedchat.ui.tool_cards import LoopView
from seedchat.ui.updates import error_update, tab_key
from seedchat.wording import done_footer

log = logging.getLogger(__name__)

# Generation handlers of several tabs may run at once: the model host lets one generate
# and tells the others, in their own chat, that the model is busy.
# No progress animation on the outputs while a reply streams: an endless animation makes the
# browser draw every frame, which on a small machine takes a core from the model (the chat's
# own "…" and the Stop button say that it is writing).
GENERATE = {"concurrency_id": "generate", "concurrency_limit": 8, "show_progress": "hidden"}
#: A send's own first step, in the browser: its inputs are gathered by then, so the box's
#: text goes at once, however long the turn waits in the queue (its first update empties
#: the box's files too, and a refused turn gives the message back).
EMPTY_BOX_JS = f"""(...inputs) => {{
  const box = document.querySelector('#message textarea');
  window.{SEND_EMPTIED} = true;  // the context meter does not count the box it empties
  if (box) {{ box.value = ''; box.dispatchEvent(new Event('input', {{bubbles: true}})); }}
  return inputs;
}}"""
#: A reply that runs this long has the sidebar list its conversation (and the title box show
#: it) as it streams; a shorter one, at its end: the list's update, and the title's event it
#: starts, would take a short reply's first moments from the model.
LIST_AFTER_SECONDS = 1.0
#: The message box's hint: words only (an emoji would be an empty box on a machine without an
#: emoji font); the paperclip is the box's own upload button, drawn beside the words
MESSAGE_HINT = "Message seedchat (Enter sends) · attach files with the paperclip, drop or paste"

# The page's script (run once when it loads): a click on a branch control's arrow in the
# chat becomes the hidden #branch-switch box's new value ("branch-next-ID <time>": always
# a new one, so the same arrow twice switches twice), which its change event reads.
BRANCH_JS = f"""
() => {{
  if (window.seedchatBranches) return [];
  window.seedchatBranches = true;
  document.addEventListener("click", (event) => {{
    const link = event.target.closest?.('#chatbot a[href^="{BRANCH_LINK}"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const box = document.querySelector("#branch-switch textarea, #branch-switch input");
    if (!box) return;
    box.value = link.getAttribute("href").slice(1) + " " + Date.now();
    box.dispatchEvent(new Event("input", {{ bubbles: true }}));
  }}, true);
  return [];
}}
"""

Chat = list[ChatMessage]
Updates = dict[Any, Any]
Run = Callable[[threading.Event], Iterator[Event]]


@dataclass
class TabState:
    """The per tab ``gr.State`` components of the chat."""

    turns: Any  # list[Turn]: the conversation on screen, as the model is given it
    thread: Any  # OpenThread: where those turns are in the store
    editing: Any  # bool: the last question was taken back into the box to be edited

    @classmethod
    def create(cls) -> TabState:
        return cls(gr.State([]), gr.State(OpenThread()), gr.State(False))


@dataclass
class PageTargets:
    """Parts of the page outside the chat pane that a turn reads or updates."""

    error_box: Any
    model_status: Any
    listing: Any  # the sidebar's conversation list
    search: Any  # the sidebar's search box
    listing_update: Callable[[OpenThread | None, str], Any]


@dataclass
class ChatParts:
    """What the chat pane works with: the model, the store, the settings panel, the tab's
    state and the rest of the page."""

    host: ModelHost
    store: Store | None
    panel: SettingsPanel
    tab: TabState
    page: PageTargets
    tools: PageTools | None = None  # the MCP servers (seedchat.ui.page_tools)


def make_session(
    host: ModelHost,
    store: Store | None,
    settings: Any,
    turns: list[Turn],
    thread: OpenThread,
    tools: SessionTools | None = None,
) -> ChatSession:
    """The tab's session: its turns and place in the store, with ``settings`` and
    ``tools``."""
    model = host.model_name
    return ChatSession(host, store, settings, list(turns), thread, model, tools=tools)


def through_last_question(chat: Chat) -> Chat:
    """The chat up to and with the last question (its answer left out)."""
    last = max((i for i, m in enumerate(chat) if m.get("role") == "user"), default=-1)
    return chat[: last + 1]


class ChatPane:
    """Lays out the chat (call inside a column); ``wire`` connects it."""

    def __init__(self, host: ModelHost) -> None:
        self.streaming: set[str] = set()  # the tabs whose answer is being written
        self.chatbot = gr.Chatbot(
            elem_id="chatbot",
            height=560,
            show_label=False,
            buttons=["copy", "copy_all"],
            latex_delimiters=LATEX,
            placeholder="Ask anything. Thinking shows above each answer.",
            feedback_options=None,
        )
        with gr.Row():
            # files: its upload button, dropped on it or pasted (seedchat.ui.attachments)
            self.message = gr.MultimodalTextbox(
                placeholder=MESSAGE_HINT,
                show_label=False,
                lines=1,
                max_lines=8,
                scale=6,
                elem_id="message",
                autofocus=True,
                sources=["upload"],
                file_count="multiple",
                submit_btn=False,
            )
            self.send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
            self.stop = gr.Button("Stop", variant="stop", scale=1, elem_id="stop")
        # the prompt's size; the plans when it does not fit
        self.meter = ContextMeter(host)
        with gr.Row():
            self.regenerate = gr.Button("↻ Regenerate", size="sm", elem_id="regenerate")
            self.edit = gr.Button("✎ Edit last message", size="sm", elem_id="edit")
            self.at_budgets = gr.Button("Answer at budgets…", size="sm", elem_id="at-budgets")
            self.budgets = gr.Textbox(
                "0,1024,4096",
                show_label=False,
                placeholder="budgets, e.g. 0,1024,-1",
                elem_id="at-budgets-list",
                scale=1,
            )
        self.stats = gr.Markdown("", elem_id="turn-stats")
        # written by BRANCH_JS when a branch control's arrow is clicked
        self.branch = gr.Textbox(visible="hidden", elem_id="branch-switch", show_label=False)

    def wire(self, parts: ChatParts) -> None:
        turn = _TurnHandlers(self, parts)
        tab, page, panel = parts.tab, parts.page, parts.panel
        state = {
            "chat": self.chatbot,
            "turns": tab.turns,
            "thread": tab.thread,
            "editing": tab.editing,
            "query": page.search,
        }
        kwargs = {**state, **panel.kwargs}
        outputs = [
            self.chatbot,
            tab.turns,
            self.stats,
            page.error_box,
            page.model_status,
            tab.thread,
            page.listing,
            tab.editing,
            self.message,
        ]
        sends = [
            (self.send.click, turn.respond),
            (self.message.submit, turn.respond),
            (self.meter.passages.click, turn.respond_from_passages),
        ]
        for trigger, respond in sends:
            # one event: a second, chained after one that empties the box, cost the first
            # token ~100 ms (the browser gathers the turn's inputs again, then joins the
            # queue); its browser-side step empties the box's text, its first update the files
            trigger(
                respond,
                inputs_kwargs={"text": self.message, **kwargs},
                outputs=outputs,
                js=EMPTY_BOX_JS,
                **GENERATE,
            )
        self.regenerate.click(turn.regenerate, inputs_kwargs=kwargs, outputs=outputs, **GENERATE)
        self.at_budgets.click(
            turn.at_budgets,
            inputs_kwargs={"budgets": self.budgets, **kwargs},
            outputs=outputs,
            **GENERATE,
        )
        self.branch.change(
            turn.switch,
            [self.branch, tab.thread],
            [self.chatbot, tab.turns, tab.thread, tab.editing, self.stats, page.error_box],
            queue=False,
        )
        self.stop.click(turn.stop, None, None, queue=False)
        self.edit.click(
            take_back,
            [self.chatbot, tab.turns, tab.editing],
            [self.chatbot, self.message, tab.editing],
            queue=False,
        )
        self.meter.wire(
            MeterTargets(
                self.message, tab.turns, tab.editing, panel, page.model_status, page.error_box
            )
        )
        self.chatbot.clear(
            lambda: ([], "", OpenThread(), False),
            None,
            [tab.turns, self.stats, tab.thread, tab.editing],
            queue=False,
        )


def take_back(chat: Chat, turns: list[Turn], editing: bool) -> tuple[Chat, Any, bool]:
    """Edit: the last question goes back into the box (and out of the chat); sending it
    then makes a new question beside the old one (``ChatSession.edit_last``)."""
    questions = [t for t in turns if t.role == "user"]
    if not questions or editing:
        return chat, gr.update(), editing
    return through_last_question(chat)[:-1], message_value(questions[-1].content), True


@dataclass
class _Asked:
    """What a generating handler is given: the tab's state, the search box, the panel."""

    chat: Chat
    turns: list[Turn]
    thread: OpenThread
    editing: bool
    query: str
    settings: dict[str, Any]  # the settings panel's values, by SettingsPanel.read's names

    @classmethod
    def of(cls, values: dict[str, Any]) -> _Asked:
        state = {name: values.pop(name) for name in ("chat", "turns", "thread", "editing", "query")}
        return cls(**state, settings=values)


def _regenerate(session: ChatSession) -> Run:
    return session.regenerate


class _TurnHandlers:
    """The chat's generating handlers: each runs one session turn and streams updates."""

    def __init__(self, pane: ChatPane, parts: ChatParts) -> None:
        self.pane = pane
        self.host, self.store, self.panel = parts.host, parts.store, parts.panel
        self.tab, self.page, self.tools = parts.tab, parts.page, parts.tools
        self.streaming = pane.streaming  # the tabs whose answer is being written

    def stop(self, request: gr.Request) -> None:
        self.host.stop(tab_key(request))

    def switch(self, request: gr.Request, link: str, thread: OpenThread) -> tuple[Any, ...]:
        """A branch control's arrow: that branch on screen, and the store's active one (the
        next question continues it)."""
        unchanged = (gr.update(),) * 5
        if not link:  # the box emptied (never by the page's script)
            return (*unchanged, gr.update())
        if tab_key(request) in self.streaming:
            wait = "An answer is being written: wait for it (or Stop it), then switch."
            return (*unchanged, error_update(wait))
        if self.store is None or thread.conversation_id is None:
            return (*unchanged, error_update("Only a saved conversation has branches."))
        try:
            shown = switch_branch(self.store, thread.conversation_id, link.split(" ")[0])
        except SeedchatError as err:
            return (*unchanged, error_update(err))
        return shown.chat, shown.turns, shown.thread, False, "", error_update(None)

    def respond(self, request: gr.Request, text: Any, **values: Any) -> Iterator[Updates]:
        yield from self._respond(request, text, values, from_passages=False)

    def respond_from_passages(
        self, request: gr.Request, text: Any, **values: Any
    ) -> Iterator[Updates]:
        """Send the message with the passages of its files that match the question."""
        yield from self._respond(request, text, values, from_passages=True)

    def _respond(
        self, request: gr.Request, text: Any, values: dict[str, Any], from_passages: bool
    ) -> Iterator[Updates]:
        tab = tab_key(request)
        self.streaming.add(tab)  # from the start: no branch switch while it waits its turn
        try:
            yield from self._send(request, text, values, from_passages)
        finally:
            self.streaming.discard(tab)

    def _send(
        self, request: gr.Request, text: Any, values: dict[str, Any], from_passages: bool
    ) -> Iterator[Updates]:
        question, paths = message_parts(text)
        question = question.strip()
        try:
            files = read_uploads(self.pane.meter.cache, paths)
        except DocumentError as err:  # the box gets its message back
            yield {**self._error(err), self.pane.message: text}
            return
        if not question and not files:
            yield self._error(None)
            return
        asked = _Asked.of(values)
        if asked.editing and files:  # an edited question keeps the files it was asked with
            problem = "An edited question keeps its files: send new files with a new question."
            yield {**self._error(problem), self.pane.message: text}
            return

        def run(session: ChatSession) -> Run:
            if asked.editing:
                return lambda cancel: session.edit_last(question, cancel)
            session.fit_earlier_files(question, files)
            passages = session.passages_for(question, files) if from_passages else None
            if passages is None:
                refuse_if_too_long(session, question, files)
            return lambda cancel: session.turn(
                question, cancel, attachments=files, retrieval=passages
            )

        shown = [*asked.chat, user_message(question, files)]
        yield from self._start(request, asked, shown, run, sent=text)

    def regenerate(self, request: gr.Request, **values: Any) -> Iterator[Updates]:
        asked = _Asked.of(values)
        questions = [t for t in asked.turns if t.role == "user"]
        if not questions:
            yield self._error("Nothing to regenerate yet.")
            return
        # a question taken back to be edited is shown again: it is answered anew
        shown = asked.chat
        if asked.editing:
            shown = [*shown, user_message(questions[-1].content)]
        yield from self._start(request, asked, through_last_question(shown), _regenerate)

    def at_budgets(self, request: gr.Request, budgets: str, **values: Any) -> Iterator[Updates]:
        """ "Answer at budgets…": the last question again at each budget, as sibling
        branches (:func:`seedchat.budget_lab.runner.answer_at_budgets`)."""
        asked = _Asked.of(values)
        if not any(t.role == "user" for t in asked.turns):
            yield self._error("Ask a question first.")
            return
        try:
            chosen = parse_budgets(budgets or "")
        except SeedchatError as err:
            yield self._error(err)
            return

        def run(session: ChatSession) -> Run:
            return lambda cancel: answer_at_budgets(session, chosen, cancel)

        yield from self._start(request, asked, through_last_question(asked.chat), run)

    def _start(
        self,
        request: gr.Request,
        asked: _Asked,
        chat: Chat,
        run: Callable[[ChatSession], Run],
        sent: Any = None,
    ) -> Iterator[Updates]:
        """The tab's session with the panel's settings, then its turn streamed; a turn
        refused before it starts gives the box its message (``sent``) back."""
        try:
            chosen = self.panel.read(**asked.settings)
            tools = self._session_tools(tab_key(request))
            session = make_session(self.host, self.store, chosen, asked.turns, asked.thread, tools)
            turn = run(session)
        except SeedchatError as err:
            back = {self.pane.message: sent} if sent is not None else {}
            yield {**self._error(err), **back}
            return
        said = self._tools_said(turn)
        yield from self._stream(session, said, chat, request, asked.query, sent is not None)

    def _session_tools(self, tab: str) -> SessionTools | None:
        """The page's tools for a turn of the tab ``tab`` (an approval waits for its user)."""
        if self.tools is None:
            return None
        approver = self.tools.approvals.approver(tab, self.host.cancel_event(tab))
        return SessionTools.of(self.tools.runner(), approver, self.panel.settings)

    def _tools_said(self, turn: Run) -> Run:
        """The turn, after what is wrong with the tools (a bad ``mcp.json``: the turn goes
        on without tools)."""
        problem = self.tools.problem if self.tools is not None else None
        if problem is None:
            return turn

        def said_first(cancel: threading.Event) -> Iterator[Event]:
            yield Notice(problem, "tools")
            yield from turn(cancel)

        return said_first

    def _error(self, error: Any) -> Updates:
        return {
            self.page.error_box: error_update(error),
            self.page.model_status: status_markdown(self.host),
        }

    def _as_saved(self, session: ChatSession, live: Chat) -> Chat:
        """The chat as the store has it, with the branch controls (a regenerated answer
        shows "‹ 2 / 2 ›"); ``live`` when the turn was not saved."""
        conv_id = session.thread.conversation_id
        if self.store is None or conv_id is None or session.problem:
            return live
        try:
            opened = open_conversation(self.store, conv_id)
        except SeedchatError as err:
            log.warning("could not read the conversation back: %s", err)
            return live
        # another tab may have moved the conversation on meanwhile: keep this tab's turn
        return opened.chat if opened.thread == session.thread else live

    def _saved(self, session: ChatSession, query: str) -> Updates:
        """Where the turn is saved: the thread, the sidebar's list, a problem saving."""
        updates = {
            self.tab.thread: session.thread,
            self.page.listing: self.page.listing_update(session.thread, query),
        }
        if session.problem:
            updates[self.page.error_box] = error_update(session.problem)
        return updates

    def _asked_update(self, shown: Chat, sent: bool) -> Updates:
        """The turn's first update: the question with the answer's "…" (and for a send the
        box emptied of its files too: the browser took its text out at the click)."""
        updates = {
            self.pane.chatbot: shown,
            self.pane.stats: "",
            self.tab.editing: False,
            self.page.error_box: error_update(None),
            self.page.model_status: status_markdown(self.host),
        }
        if sent:
            updates[self.pane.message] = message_value("")
        return updates

    def _stream(
        self,
        session: ChatSession,
        run: Run,
        chat: Chat,
        request: gr.Request,
        query: str,
        sent: bool = False,
    ) -> Iterator[Updates]:
        pane, view = self.pane, LoopView(budget=session.settings.budget)
        cancel = self.host.cancel_event(tab_key(request))
        cancel.clear()
        self.streaming.add(tab_key(request))
        # the model starts before the question is drawn: its first token does not wait for it
        pump, pacer = EventPump(lambda: run(cancel), stop=cancel.set), UpdatePacer()
        list_at = time.perf_counter() + LIST_AFTER_SECONDS  # when the sidebar lists the chat
        drawn = False  # some of the reply was drawn: the first of it goes alone
        try:
            yield self._asked_update(chat + view.messages(), sent)
            for events in pump.batches(wait=pacer.interval, pause=pacer.rest):
                for event in events:
                    view.apply(event)
                if not pacer.due(events):
                    continue
                updates = {pane.chatbot: chat + view.messages()}
                if view.done is not None:
                    updates[pane.stats] = done_footer(view.done)
                if drawn and time.perf_counter() >= list_at:
                    updates.update(self._saved(session, query))
                    list_at = float("inf")
                drawn, started = True, time.perf_counter()
                yield updates
                pacer.sent(time.perf_counter() - started)
        except SeedchatError as err:
            log.warning("generation failed: %s", err)
            view.fail(err.message)
            yield {
                pane.chatbot: chat + view.messages(),
                self.tab.turns: session.turns,
                pane.stats: "",
                **self._saved(session, query),
                **self._error(err),
            }
            return
        finally:
            pump.close()  # the page went away: stop the model (the session saves what it wrote)
            self.streaming.discard(tab_key(request))
        if view.done is None:  # stopped while waiting for the model
            view.apply(Done("cancelled"))
        yield {
            pane.chatbot: self._as_saved(session, chat + view.messages()),
            self.tab.turns: session.turns,
            self.page.model_status: status_markdown(self.host),
            **self._saved(session, query),
        }
