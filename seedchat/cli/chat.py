"""`seedchat chat`: talk to a model in the terminal, one-shot or interactive.

Thinking is shown dimmed, with a counter line at each of the model's reports (its own
count beside the true one); the answer is plain. ``--json`` prints one event per line.
Each turn is a :class:`~seedchat.session.ChatSession` turn, as in the web UI: the same
settings (the settings file's, then the flags), the same prompt, saved the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

from seedchat.budget import ENFORCEMENTS
from seedchat.cli import console, err_console
from seedchat.errors import SeedchatError
from seedchat.events import (
    AnswerDelta,
    Done,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.host import ModelHost
from seedchat.models import resolve_model
from seedchat.servers import ENGINE_KEY_ENV, RemoteServer
from seedchat.session import ChatSession, open_store
from seedchat.settings import ChatSettings, Settings, load_settings
from seedchat.store import Store


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
    p.add_argument(
        "--lookup",
        dest="lookup_decoding",
        action="store_const",
        const="auto",
        help="draft tokens the conversation already holds (the default: settings.json)",
    )
    p.add_argument(
        "--no-lookup",
        dest="lookup_decoding",
        action="store_const",
        const="off",
        help="decode one token at a time",
    )
    p.add_argument("--system", help="system prompt")
    p.add_argument("--context", type=int, help="context length in tokens")
    p.add_argument("--gpu-layers", help="'auto' or a number of layers on the GPU")
    p.add_argument(
        "--engine-url",
        metavar="URL",
        help="use a model on an OpenAI-compatible server (vLLM, llama.cpp, seedchat serve); "
        "-m names the server's model",
    )
    p.add_argument(
        "--engine-key",
        "--api-key",
        dest="engine_key",
        metavar="KEY",
        help="the server's API key (also read from SEEDCHAT_ENGINE_KEY)",
    )
    p.add_argument("--raw", action="store_true", help="plain text completion, no chat template")
    p.add_argument("--show-prompt", action="store_true", help="print the rendered prompt and exit")
    p.add_argument("--json", action="store_true", help="print one JSON event per line")
    p.add_argument(
        "--no-save", action="store_true", help="do not save the conversation (see 'history')"
    )
    p.add_argument(
        "-c",
        "--conversation",
        metavar="ID",
        help="continue a saved conversation (an id from 'seedchat history list')",
    )
    p.set_defaults(func=run)


class _Printer:
    """Renders events for a terminal (rich) or as JSON lines."""

    def __init__(self, as_json: bool, budget: int) -> None:
        self.console, self.json, self.budget = console, as_json, budget
        self.about = ""  # "~" while counts are estimated (a remote server's chunks)

    def __call__(self, event) -> None:
        if self.json:
            print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
            return
        c = self.console
        if isinstance(event, ThinkingStart):
            self.about = "~" if event.approximate else ""
            c.print("[dim]thinking…[/]")
        elif isinstance(event, ThinkingDelta):
            c.print(event.text, style="dim", end="", soft_wrap=True)
        elif isinstance(event, Reflect):
            limit = f" / {self.budget}" if self.budget > 0 else ""
            said = (
                "budget exhausted"
                if event.exhausted
                else f"used {event.used}, {event.remaining} left"
            )
            c.print(f"\n[cyan]  ⟨{self.about}{event.true_count}{limit} tokens · model: {said}⟩[/]")
        elif isinstance(event, ThinkingEnd):
            how = " (cut at the budget)" if event.forced else ""
            spent = f"{self.about}{event.tokens} tokens in {event.seconds:.1f} s{how}"
            c.print(f"\n[dim]— thought {spent} —[/]\n")
        elif isinstance(event, AnswerDelta):
            c.print(event.text, end="", soft_wrap=True, markup=False, highlight=False)
        elif isinstance(event, ToolCall):
            c.print(
                f"\n[magenta]tool call {event.name}({json.dumps(event.arguments, ensure_ascii=False)})[/]"
            )
        elif isinstance(event, Notice):
            c.print(f"[yellow]note: {event.text}[/]")
        elif isinstance(event, Done):
            rate = f", {event.tokens_per_second:.1f} tokens/s" if event.tokens_per_second else ""
            if event.drafted_tokens:
                rate += f", drafted {event.drafted_tokens} · accepted {event.accepted_tokens}"
            c.print(f"\n[dim]({event.generated_tokens} tokens{rate}, {event.finish_reason})[/]")


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
    """``base`` (the settings file's, or a resumed conversation's) with the flags given."""
    return base.replace(**{name: getattr(args, flag) for name, flag in FLAGS.items()})


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = None if (args.no_save or args.raw or args.show_prompt) else _open_store(args.json)
    if args.conversation and store is None:
        store = _open_store(args.json, required=True)
    host = ModelHost(settings)  # the one model of this process, as in the UI and the API
    try:
        _load(args, host, settings)
        session = _session(args, host, store, ChatSettings.from_settings(settings))
        if args.show_prompt:
            question = args.prompt or ""
            sys.stdout.write(question if args.raw else session.prompt(question))
            return 0
        _chat(args, host, session)
        return 0
    finally:
        host.unload()
        if store is not None:
            store.close()


def _load(args: argparse.Namespace, host: ModelHost, settings: Settings) -> None:
    """The model: on the server ``--engine-url`` names, else a local GGUF."""
    if args.engine_url:
        key = args.engine_key or os.environ.get(ENGINE_KEY_ENV) or None
        host.connect(RemoteServer(args.engine_url, key), args.model)
        return
    path = resolve_model(args.model, settings)
    layers = gpu_layers(args.gpu_layers)
    with LoadBar(path.name) as bar:  # Ctrl+C stops the load
        host.load(
            path, remember=False, n_gpu_layers=layers, context_length=args.context, progress=bar
        )


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


def _chat(args: argparse.Namespace, host: ModelHost, session: ChatSession) -> None:
    """One answer, or the interactive loop (an empty line or Ctrl-D ends it)."""
    printer = _Printer(args.json, session.settings.budget)
    ask = _raw_turn(host, session, printer) if args.raw else _turn(session, printer, args)
    try:
        if args.prompt is not None:
            ask(args.prompt)
            return
        if not args.json:
            console.print(f"[bold]{host.display_name}[/] — empty line or Ctrl-D to quit.")
        while True:
            try:
                line = input("\n> ")
            except EOFError:
                return
            if not line.strip():
                return
            ask(line)
    finally:
        conv = session.thread.conversation_id
        if session.store is not None and conv is not None and not args.json:
            err_console.print(f"[dim]saved: seedchat history show {conv[:8]}[/]")


def gpu_layers(value: str | None) -> int | str | None:
    """The --gpu-layers flag: 'auto', a number of layers, or None when not given."""
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise SeedchatError(
            f"--gpu-layers must be 'auto' or a number of layers, not {value!r}."
        ) from None


def _session(
    args: argparse.Namespace, host: ModelHost, store: Store | None, base: ChatSettings
) -> ChatSession:
    """A new chat, or the saved conversation ``--conversation`` names, with the flags."""
    if args.conversation:
        conv_id = store.resolve_id(args.conversation)
        session = ChatSession.resume(host, store, conv_id, base, model=host.model_name)
    else:
        session = ChatSession(host, store, base, model=host.model_name)
    session.settings = chat_settings(args, session.settings)
    if args.show_prompt:
        session.store = None  # printing a prompt saves nothing
    return session


def _turn(session: ChatSession, printer: _Printer, args: argparse.Namespace):
    def ask(text: str) -> None:
        cancel = threading.Event()
        try:
            for event in session.turn(text, cancel):
                printer(event)
        except KeyboardInterrupt:
            cancel.set()
        if session.problem and not args.json:
            err_console.print(f"[yellow]warning:[/] {session.problem}")

    return ask


def _raw_turn(host: ModelHost, session: ChatSession, printer: _Printer):
    """Plain completion of the text (base models): no template, never saved."""
    options = session.settings.generation_options(raw=True)

    def ask(text: str) -> None:
        for event in host.generate(text, options):
            printer(event)

    return ask


def _open_store(quiet: bool, required: bool = False) -> Store | None:
    """The conversation store, or None with a warning (the chat goes on unsaved)."""
    store, problem = open_store()
    if problem is not None and required:
        raise problem
    if problem is not None and not quiet:
        err_console.print(f"[yellow]warning:[/] not saving this chat: {problem.message}")
    return store
