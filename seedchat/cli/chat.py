"""`seedchat chat`: talk to a model in the terminal, one-shot or interactive.

Thinking is shown dimmed, with a counter line at each of the model's reports (its own
count beside the true one); the answer is plain. ``--json`` prints one event per line.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from seedchat.engine import Engine, GenerationOptions, LoadOptions
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
from seedchat.models import demo_model, list_models
from seedchat.prompt import Message
from seedchat.settings import load_settings


def register(sub) -> None:
    p = sub.add_parser("chat", help="Chat with a model in the terminal")
    p.add_argument("prompt", nargs="?", help="a question for a one-shot answer (else interactive)")
    p.add_argument("-m", "--model", help="GGUF file or model name from 'seedchat models'")
    p.add_argument(
        "-b", "--budget", type=int, help="thinking budget: -1 unlimited, 0 none, or tokens"
    )
    p.add_argument("--enforce", choices=("soft", "hard"), help="how the budget is kept")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--system", help="system prompt")
    p.add_argument("--context", type=int, help="context length in tokens")
    p.add_argument("--gpu-layers", help="'auto' or a number of layers on the GPU")
    p.add_argument("--raw", action="store_true", help="plain text completion, no chat template")
    p.add_argument("--show-prompt", action="store_true", help="print the rendered prompt and exit")
    p.add_argument("--json", action="store_true", help="print one JSON event per line")
    p.add_argument(
        "--no-save", action="store_true", help="do not save the conversation (see 'history')"
    )
    p.set_defaults(func=run)


def resolve_model(name: str | None, settings) -> Path:
    """A path from a file name, a catalog name, the last used model, or the demo."""
    if name:
        path = Path(name).expanduser()
        if path.is_file():
            return path
        for m in list_models(settings.model_paths):
            if m.ok and name in (m.name, m.path.stem, m.path.name):
                return m.path
        raise SeedchatError(f"No model named {name!r}.", hint="See 'seedchat models'.")
    if settings.model and Path(settings.model).is_file():
        return Path(settings.model)
    good = [m for m in list_models(settings.model_paths) if m.ok and not m.is_demo]
    if good:
        return good[0].path
    demo = demo_model()
    if demo is None:
        raise SeedchatError("No model found.", hint="Convert one with 'seedchat convert'.")
    return demo


class _Printer:
    """Renders events for a terminal (rich) or as JSON lines."""

    def __init__(self, as_json: bool, budget: int) -> None:
        from seedchat.cli import console

        self.console, self.json, self.budget = console, as_json, budget

    def __call__(self, event) -> None:
        if self.json:
            print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
            return
        c = self.console
        if isinstance(event, ThinkingStart):
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
            c.print(f"\n[cyan]  ⟨{event.true_count}{limit} tokens · model: {said}⟩[/]")
        elif isinstance(event, ThinkingEnd):
            how = " (cut at the budget)" if event.forced else ""
            c.print(f"\n[dim]— thought {event.tokens} tokens in {event.seconds:.1f} s{how} —[/]\n")
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
            c.print(f"\n[dim]({event.generated_tokens} tokens{rate}, {event.finish_reason})[/]")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    path = resolve_model(args.model, settings)
    budget = settings.thinking_budget if args.budget is None else args.budget
    gen = GenerationOptions(
        budget=budget, enforcement=args.enforce or None,
        temperature=args.temperature if args.temperature is not None else None,
        top_p=args.top_p, top_k=args.top_k, seed=args.seed,
        max_tokens=args.max_tokens or settings.max_tokens, raw=args.raw,
    )  # fmt: skip
    layers = args.gpu_layers or settings.n_gpu_layers
    load = LoadOptions(
        n_gpu_layers=layers if layers == "auto" else int(layers),
        context_length=args.context or settings.context_length,
        kv_cache_type=settings.kv_cache_type, flash_attn=settings.flash_attn,
        threads=settings.threads,
    )  # fmt: skip
    system = args.system if args.system is not None else settings.system_prompt
    with Engine.load(path, load) as engine:
        history = [Message("system", system)] if system else []
        printer = _Printer(args.json, budget)
        if args.show_prompt:
            msgs = [*history, Message("user", args.prompt or "")]
            sys.stdout.write(args.prompt or "" if args.raw else engine.render(msgs, gen))
            return 0
        chat = _Session(engine, history, gen, printer, args, path, system)
        try:
            if args.prompt is not None:
                chat.turn(args.prompt)
                return 0
            if not args.json:
                from seedchat.cli import console

                console.print(
                    f"[bold]{engine.info.display_name}[/] — empty line or Ctrl-D to quit."
                )
            while True:
                try:
                    line = input("\n> ")
                except EOFError:
                    return 0
                if not line.strip():
                    return 0
                chat.turn(line)
        finally:
            chat.close()


def _open_store(quiet: bool):
    """The conversation store, or None with a warning (the chat goes on unsaved)."""
    from seedchat.store_turns import open_store

    store, problem = open_store()
    if problem is not None and not quiet:
        from seedchat.cli import err_console

        err_console.print(f"[yellow]warning:[/] not saving this chat: {problem.message}")
    return store


class _Session:
    """The turns of one ``seedchat chat``, saved as they happen (unless --no-save/--raw)."""

    def __init__(self, engine: Engine, history: list[Message], gen: GenerationOptions,
                 printer: _Printer, args: argparse.Namespace, path: Path, system: str) -> None:  # fmt: skip
        from seedchat.store_turns import OpenThread

        self.engine, self.history, self.gen, self.printer = engine, history, gen, printer
        self.raw, self.quiet = args.raw, args.json
        self.model = path.name
        self.store = None if (args.no_save or args.raw) else _open_store(args.json)
        self.thread = OpenThread()
        self.settings = {
            "budget": gen.budget,
            "enforcement": gen.enforcement or "hard",
            "max_tokens": gen.max_tokens,
            "system_prompt": system or "",
        }
        for key, value in (("temperature", gen.temperature), ("top_p", gen.top_p)):
            if value is not None:
                self.settings[key] = float(value)

    def turn(self, text: str) -> None:
        from seedchat.store_turns import TurnSaver

        saver = TurnSaver(self.store, self.thread, self.settings, model=self.model)
        saver.question(text)
        saver.answer()
        self.history.append(Message("user", text))
        answer, thinking = [], []
        cancel = threading.Event()
        try:
            for event in self.engine.generate(text if self.raw else self.history, self.gen, cancel):
                saver.on_event(event)
                self.printer(event)
                if isinstance(event, AnswerDelta):
                    answer.append(event.text)
                elif isinstance(event, ThinkingDelta):
                    thinking.append(event.text)
        except KeyboardInterrupt:
            cancel.set()
        finally:
            saver.finish("cancelled")  # a no-op once the answer's Done was saved
            self.thread = saver.thread
            if saver.problem and not self.quiet:
                from seedchat.cli import err_console

                err_console.print(f"[yellow]warning:[/] {saver.problem}")
        self.history.append(
            Message("assistant", "".join(answer), thinking="".join(thinking) or None)
        )

    def close(self) -> None:
        conv = self.thread.conversation_id
        if self.store is None:
            return
        if conv is not None and not self.quiet:
            from seedchat.cli import err_console

            err_console.print(f"[dim]saved: seedchat history show {conv[:8]}[/]")
        self.store.close()
