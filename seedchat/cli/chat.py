"""`seedchat chat`: talk to a model in the terminal, one-shot or interactive.

Thinking is shown dimmed, with a counter line at each of the model's reports (its own
count beside the true one); the answer is plain. ``--json`` prints one event per line.
Each turn is a :class:`~seedchat.chat.session.ChatSession` turn, as in the web UI: the same
settings (the settings file's, then the flags), the same prompt, saved the same way.
``-c`` continues the most recent conversation, ``-c ID`` the one named.

``--file PATH`` (repeatable) attaches files to the question (the first one, in the
interactive chat), and ``/file PATH`` in the interactive chat attaches one to the next
question: each is read (:func:`seedchat.documents.read.read_document`) before anything else
happens, so a file that cannot be attached is refused with nothing changed. Files that
do not fit the context, or all of them with ``--retrieval``, go in as the passages that
best match the question (:mod:`seedchat.cli.chat_files`: a one-shot chat first loads a
longer context when this machine can hold it).

Tools are on when MCP servers are configured (``seedchat tools``): the model may call
them in the tool loop (:mod:`seedchat.chat.tool_loop`). Each call asks ``[y]es / [a]lways /
[n]o`` on the terminal (unless ``tool_approval`` is ``auto`` or the tool is always
allowed); ``--yes`` approves every call of the run, ``--no-tools`` turns tools off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from seedchat.chat.answer import answer
from seedchat.chat.session import ChatSession, SessionTools, open_store
from seedchat.cli.chat_files import fit_files, prompt_meter, read_files
from seedchat.cli.console import console, err_console, note, print_error, warn
from seedchat.cli.options import (
    add_engine_options,
    add_load_options,
    add_lookup_options,
    add_preset_option,
    remote_server,
    with_preset,
)
from seedchat.documents.read import Document, DocumentError, attach, describe, read_document
from seedchat.engine.host import ModelHost
from seedchat.errors import StoreError
from seedchat.events import (
    AnswerDelta,
    Done,
    Notice,
    Prefill,
    Reflect,
    RetrievalNotice,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
    ToolRun,
)
from seedchat.models import resolve_model
from seedchat.planner import ContextPlan
from seedchat.seed.budget import ENFORCEMENTS
from seedchat.settings import ChatSettings, Settings, load_settings
from seedchat.store import Store
from seedchat.tools.builtin.runner import with_builtins
from seedchat.tools.config import ToolsConfig
from seedchat.tools.mcp_tools import McpTools
from seedchat.tools.protocol import ApproveAll, Decision, PendingCall
from seedchat.tools.servers import ToolHost
from seedchat.wording import (
    done_footer,
    finished_title,
    prefill_line,
    reflect_note,
    tool_call_text,
    tool_run_line,
)

#: ``-c`` with no id: the most recently updated conversation (``-c latest`` says the same)
LATEST = "latest"
#: The interactive chat's command that attaches a file to the next question.
FILE_COMMAND = "/file"
#: The interactive chat's command that turns ``--retrieval`` on or off for the next questions.
RETRIEVAL_COMMAND = "/retrieval"


def register(sub) -> None:
    p = sub.add_parser("chat", help="Chat with a model in the terminal")
    p.add_argument("prompt", nargs="?", help="a question for a one-shot answer (else interactive)")
    p.add_argument("-m", "--model", help="GGUF file or model name from 'seedchat models'")
    p.add_argument(
        "-b", "--budget", type=int, help="thinking budget: -1 unlimited, 0 none, or tokens"
    )
    p.add_argument("--enforce", choices=ENFORCEMENTS, help="how the budget is kept")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-tokens", type=int)
    add_lookup_options(p)
    p.add_argument("--system", help="system prompt")
    p.add_argument(
        "--file",
        metavar="PATH",
        action="append",
        default=[],
        help="attach a file to the question (repeatable): text, Markdown, code, CSV, JSON, "
        "HTML or PDF; in the interactive chat, '/file PATH' attaches one to the next question",
    )
    p.add_argument(
        "--retrieval",
        action="store_true",
        help="put only the passages of the files that best match the question in the prompt "
        "(SQLite FTS5, BM25), not the whole files (chosen on its own when they do not fit)",
    )
    add_preset_option(
        p, "start from this preset's settings ('seedchat presets'); the flags above override it"
    )
    add_load_options(p)
    add_engine_options(p, "--api-key")
    p.add_argument("--raw", action="store_true", help="plain text completion, no chat template")
    p.add_argument("--show-prompt", action="store_true", help="print the rendered prompt and exit")
    p.add_argument("--json", action="store_true", help="print one JSON event per line")
    p.add_argument(
        "--no-save", action="store_true", help="do not save the conversation (see 'history')"
    )
    p.add_argument(
        "-y", "--yes", action="store_true", help="run every tool call of this chat without asking"
    )
    p.add_argument("--no-tools", action="store_true", help="no tools: the model answers alone")
    p.add_argument(
        "-c",
        "--conversation",
        metavar="ID",
        nargs="?",
        const=LATEST,
        help="continue a saved conversation: the most recent one, or the one whose id "
        "('seedchat history list') is given",
    )
    p.set_defaults(func=run)


class EventPrinter:
    """Renders events for a terminal (rich) or as JSON lines, in the page's words
    (:mod:`seedchat.wording`)."""

    def __init__(self, as_json: bool, budget: int, out: Any = None, err: Any = None) -> None:
        self.console, self.json, self.budget = out or console, as_json, budget
        self.approximate = False  # counts estimated from a remote server's chunks
        self.footers: list[str] = []  # retrieval's: said under the answer's statistics
        self.progress = PrefillLine(err or err_console)

    def __call__(self, event) -> None:
        if self.json:
            print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
            return
        if isinstance(event, Prefill):
            self.progress.show(event)
            return
        self.progress.clear()
        c = self.console
        if isinstance(event, ThinkingStart):
            self.approximate = event.approximate
            c.print("[dim]thinking…[/]")
        elif isinstance(event, ThinkingDelta):
            c.print(event.text, style="dim", end="", soft_wrap=True, markup=False)
        elif isinstance(event, Reflect):
            c.print(f"\n[cyan]  ⟨{escape(reflect_line(event))}⟩[/]", soft_wrap=True)
        elif isinstance(event, ThinkingEnd):
            title = finished_title(event, self.budget, self.approximate)
            c.print(f"\n[dim]— {escape(title)} —[/]\n")
        elif isinstance(event, AnswerDelta):
            c.print(event.text, end="", soft_wrap=True, markup=False, highlight=False)
        elif isinstance(event, ToolCall):
            call = f"tool call {event.name}({json.dumps(event.arguments, ensure_ascii=False)})"
            c.print(f"\n[magenta]{escape(call)}[/]")
        elif isinstance(event, ToolRun):
            if event.status != "waiting":  # the approval prompt says it
                style = TOOL_STYLES[event.status]
                c.print(f"[{style}]  ⚙ {escape(tool_run_line(event))}[/]", soft_wrap=True)
        elif isinstance(event, RetrievalNotice):
            self.footers.append(event.text)
        elif isinstance(event, Notice):
            c.print(f"[yellow]note: {escape(event.text)}[/]")
        elif isinstance(event, Done):
            c.print(f"\n[dim]({escape(done_footer(event))})[/]", soft_wrap=True)
            for footer in self.footers:
                c.print(f"[yellow]{escape(footer)}[/]", soft_wrap=True)
            self.footers = []


class PrefillLine:
    """A long prompt's progress as one live line on stderr (a terminal only), cleared when
    the reply starts."""

    def __init__(self, out: Any) -> None:
        self.out, self.shown = out, False

    def show(self, event: Prefill) -> None:
        if not self.out.is_terminal:
            return
        self.out.file.write("\r\x1b[2K" + prefill_line(event))
        self.out.file.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.out.file.write("\r\x1b[2K")
            self.out.file.flush()
            self.shown = False


TOOL_STYLES = {"running": "magenta", "done": "green", "failed": "red", "declined": "yellow"}


APPROVAL_CHOICES = "[y]es / [a]lways / [n]o"
#: What the approval prompt takes, and what each answer decides.
APPROVAL_ANSWERS: dict[str, Decision] = {
    "y": "once",
    "yes": "once",
    "a": "always",
    "always": "always",
    "n": "deny",
    "no": "deny",
    "": "deny",
}


class TerminalApprover:
    """Asks about each tool call on the terminal: ``[y]es / [a]lways / [n]o`` (an empty
    answer or the end of input declines)."""

    def __init__(self, ask: Any = input, out: Any = None) -> None:
        self.ask, self.out = ask, out or err_console

    def decide(self, call: PendingCall) -> Decision:
        question = f"Run {tool_call_text(call.name, call.arguments)}?"
        while True:
            self.out.print(
                f"\n[bold magenta]{escape(question)}[/] {escape(APPROVAL_CHOICES)}: ", end=""
            )
            try:
                said = self.ask("").strip().lower()
            except EOFError:
                self.out.print("\n(no answer: declined)")
                return "deny"
            if said in APPROVAL_ANSWERS:
                return APPROVAL_ANSWERS[said]


def reflect_line(event: Reflect) -> str:
    """A reflect line as the terminal shows it: the page's marker, without its Markdown
    ("⏱ model: used 258, 254 left (true count 270)")."""
    who, text = reflect_note(event)
    return f"⏱ {who}: {text}"


#: ChatSettings field → the flag that sets it (its argparse name)
FLAGS = {
    "budget": "budget",
    "enforcement": "enforce",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "max_tokens": "max_tokens",
    "system_prompt": "system",
    "lookup_decoding": "lookup_decoding",
}


def chat_settings(args: argparse.Namespace, base: ChatSettings) -> ChatSettings:
    """``base`` (the settings file's, or a resumed conversation's) with ``--preset``, then
    the flags given."""
    chosen = with_preset(args, base)
    return chosen.replace(**{name: getattr(args, flag) for name, flag in FLAGS.items()})


def run(args: argparse.Namespace) -> int:
    question_after_c(args)
    files = read_files(args.file)  # refused before anything changes
    settings = load_settings()
    store = None if (args.no_save or args.raw or args.show_prompt) else _open_store(args.json)
    if args.conversation and store is None:
        store = _open_store(args.json, required=True)
    with_preset(args, ChatSettings())  # a preset that is none is said before the model loads
    host = ModelHost(settings)  # the one model of this process, as in the UI and the API
    tools = chat_tools(args, settings)
    try:
        conv_id = conversation_id(store, args.conversation) if args.conversation else None
        load_model(args, host, settings)
        approver = ApproveAll() if args.yes else TerminalApprover()
        runner = None if args.no_tools or args.raw else with_builtins(tools)
        with_tools = SessionTools.of(runner, approver, settings)
        base = ChatSettings.from_settings(settings)
        session = _session(args, host, store, conv_id, base, with_tools)
        if args.show_prompt:
            question = args.prompt or ""
            retrieval = fit_files(args, host, session, question, files, reloader(args, host))
            prompt = (
                attach(question, files) if args.raw else session.prompt(question, files, retrieval)
            )
            sys.stdout.write(prompt)
            return 0
        _chat(args, host, session, files)
        return 0
    finally:
        host.unload()
        if tools is not None:
            tools.host.close()  # no server process outlives the chat
        if store is not None:
            store.close()


def load_model(args: argparse.Namespace, host: ModelHost, settings: Settings) -> None:
    """The model: on the server ``--engine-url`` names, else a local GGUF."""
    remote = remote_server(args)
    if remote is not None:
        host.connect(remote, args.model)
        return
    path = resolve_model(args.model, settings)
    _load_local(args, host, path, context_length=args.context)


def _load_local(args: argparse.Namespace, host: ModelHost, path: Path, **options: Any) -> None:
    """Load the GGUF ``path`` with the flags and ``options``, a bar showing the load (Ctrl+C
    stops it)."""
    with LoadBar(path.name) as bar:
        host.load(path, remember=False, n_gpu_layers=args.gpu_layers, progress=bar, **options)


def reloader(args: argparse.Namespace, host: ModelHost) -> Callable[[ContextPlan], None]:
    """Loads the model again with a context plan (a one-shot chat's files need it)."""

    def reload(plan: ContextPlan) -> None:
        load, path = plan.load_options(), host.engine.path
        _load_local(
            args,
            host,
            path,
            context_length=load.context_length,
            kv_cache_type=load.kv_cache_type,
            flash_attn=load.flash_attn,
            offload_kqv=load.offload_kqv,
        )

    return reload


class LoadBar:
    """A progress bar (on stderr, in a terminal) for a model load taking over a second."""

    DELAY = 1.0

    def __init__(self, name: str, out: Any = None) -> None:
        self.name = name
        self.out = out or err_console
        self.started = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, share: float) -> None:
        if self.bar is None:
            if not self.out.is_terminal or time.monotonic() - self.started < self.DELAY:
                return
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeElapsedColumn

            columns = ("Loading {task.description}", BarColumn(), TaskProgressColumn())
            self.bar = Progress(*columns, TimeElapsedColumn(), console=self.out, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.name, total=1.0)
        self.bar.update(self.task, completed=share)

    def __enter__(self) -> LoadBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _chat(
    args: argparse.Namespace, host: ModelHost, session: ChatSession, files: list[Document]
) -> None:
    """One answer, or the interactive loop (an empty line or Ctrl-D ends it)."""
    printer = EventPrinter(args.json, session.settings.budget)
    ask = _raw_turn(host, session, printer) if args.raw else _turn(session, printer, args, host)
    try:
        if args.prompt is not None:
            ask(args.prompt, files)
            return
        if not args.json:
            console.print(
                f"[bold]{host.display_name}[/] — {FILE_COMMAND} PATH attaches a file, "
                f"{RETRIEVAL_COMMAND} turns retrieval on or off; empty line or Ctrl-D to quit."
            )
        pending = list(files)  # attached to the next question
        while True:
            try:
                line = input("\n> ")
            except EOFError:
                return
            if not line.strip():
                return
            if attach_command(line, pending):
                continue
            if line.strip() == RETRIEVAL_COMMAND:
                args.retrieval = not args.retrieval
                how = "passages that match it" if args.retrieval else "whole when they fit"
                note(
                    f"retrieval {'on' if args.retrieval else 'off'}: files go with a question as {how}"
                )
                continue
            ask(line, pending)
            pending = []
    finally:
        conv = session.thread.conversation_id
        if session.store is not None and conv is not None and not args.json:
            note(f"saved: seedchat history show {conv[:8]}")


def _session(
    args: argparse.Namespace,
    host: ModelHost,
    store: Store | None,
    conv_id: str | None,
    base: ChatSettings,
    tools: SessionTools | None,
) -> ChatSession:
    """A new chat, or the saved conversation ``conv_id`` continued, with the flags and
    ``tools`` (those the conversation switched off in the page stay off here too)."""
    model = host.model_name
    if conv_id is not None:
        session = ChatSession.resume(host, store, conv_id, base, model=model, tools=tools)
    else:
        session = ChatSession(host, store, base, model=model, tools=tools)
    session.settings = chat_settings(args, session.settings)
    if args.show_prompt:
        session.store = None  # printing a prompt saves nothing
    return session


def attach_command(line: str, pending: list[Document]) -> bool:
    """Whether ``line`` is ``/file PATH``; if so the file is read and added to ``pending``
    (or why not is said, and nothing changes)."""
    command, _, path = line.strip().partition(" ")
    if command != FILE_COMMAND:
        return False
    path = path.strip().strip("\"'")
    if not path:
        warn(f"{FILE_COMMAND} needs a path: {FILE_COMMAND} notes.md")
        return True
    try:
        doc = read_document(path)
    except DocumentError as err:
        print_error(err)
        return True
    pending.append(doc)
    note(f"attached {describe(doc)}: it goes with your next question")
    return True


def chat_tools(args: argparse.Namespace, settings: Settings) -> McpTools | None:
    """The tools of this chat: the enabled MCP servers of ``mcp.json`` (``seedchat tools``);
    none with ``--no-tools`` or ``--raw``, or when no server is set up. Close its host."""
    if args.no_tools or args.raw:
        return None
    config = ToolsConfig.load()
    if not any(entry.enabled for entry in config.servers.values()):
        return None
    return McpTools(ToolHost.from_settings(settings, config))


def _turn(session: ChatSession, printer: EventPrinter, args: argparse.Namespace, host: ModelHost):
    one_shot = args.prompt is not None  # nobody else uses the model: it may load again

    def ask(text: str, files: list[Document]) -> None:
        retrieval = fit_files(
            args, host, session, text, files, reloader(args, host) if one_shot else None
        )
        meter = None if args.json else prompt_meter(host, session, text, files, retrieval)
        if meter:
            note(meter)
        cancel = threading.Event()
        try:
            with cancel_on_interrupt(cancel):
                for event in session.turn(text, cancel, attachments=files, retrieval=retrieval):
                    printer(event)
        except KeyboardInterrupt:
            cancel.set()
        finally:
            printer.progress.clear()
        if session.problem and not args.json:
            warn(session.problem)

    return ask


@contextlib.contextmanager
def cancel_on_interrupt(cancel: threading.Event):
    """Ctrl+C sets ``cancel`` (the reply or the prompt's reading stops cleanly between two
    steps, and what was done is kept); a second Ctrl+C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    before = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _raw_turn(host: ModelHost, session: ChatSession, printer: EventPrinter):
    """Plain completion of the text (base models): no template, never saved."""

    def ask(text: str, files: list[Document]) -> None:
        for event in answer(host, attach(text, files), session.settings, raw=True):
            printer(event)

    return ask


def _open_store(quiet: bool, required: bool = False) -> Store | None:
    """The conversation store, or None with a warning (the chat goes on unsaved)."""
    store, problem = open_store()
    if problem is not None and required:
        raise problem
    if problem is not None and not quiet:
        warn(f"not saving this chat: {problem.message}")
    return store


def question_after_c(args: argparse.Namespace) -> None:
    """``seedchat chat -c "And 4?"``, as users of ``llm -c`` type it: with no question
    given, a value of ``-c`` that no id could be (ids are hexadecimal) is the question,
    for the most recent conversation."""
    given = args.conversation
    if given in (None, LATEST) or args.prompt is not None:
        return
    if not set(given.strip().lower()) <= set("0123456789abcdef"):
        args.prompt, args.conversation = given, LATEST


def conversation_id(store: Store, given: str) -> str:
    """The conversation ``-c`` names: the most recently updated one for ``-c`` alone (said
    on stderr), else the one whose id starts with ``given``."""
    if given != LATEST:
        return store.resolve_id(given)
    latest = store.list_conversations(limit=1)
    if not latest:
        raise StoreError(
            "There is no saved conversation to continue.",
            hint="Start one with 'seedchat chat' (without -c); it is saved as you go.",
        )
    note(f"continuing “{latest[0].title}” ({latest[0].id[:8]}, the most recent conversation)")
    return latest[0].id
