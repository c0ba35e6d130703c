"""``seedchat sweep QUESTIONS``: a question set at several thinking budgets; accuracy, time
and thinking per budget, and the budget to use (:mod:`seedchat.budget_lab`)."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from typing import Any

from seedchat.budget_lab.report import budget_label, budgets_csv, recommended, report, stats
from seedchat.budget_lab.runner import (
    DEFAULT_BUDGETS,
    Progress,
    SweepError,
    parse_budgets,
    run_sweep,
    start_sweep,
)
from seedchat.budget_lab.sources import DEFAULT_HF_FILE, load_questions, parse_mapping
from seedchat.cli.chat import cancel_on_interrupt, load_model
from seedchat.cli.console import console, err_console, note
from seedchat.cli.options import (
    add_engine_options,
    add_load_options,
    add_preset_option,
    with_preset,
)
from seedchat.engine.host import ModelHost
from seedchat.paths import atomic_write_text
from seedchat.seed.budget import ENFORCEMENTS
from seedchat.settings import ChatSettings, load_settings
from seedchat.store import Store, SweepRecord, Sweeps

LATEST = "latest"
#: the flags that set a reply's settings (ChatSettings' names)
FLAGS = {
    "enforcement": "enforce",
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "max_tokens": "max_tokens",
    "system_prompt": "system",
}


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="Run a question set at several thinking budgets: accuracy, time, the budget to use",
    )
    p.add_argument(
        "questions",
        nargs="?",
        metavar="QUESTIONS",
        help="a JSONL file ({question, answer, check?} a line), a built-in set (arithmetic, "
        "puzzles, units, demo) or hf:OWNER/NAME (a dataset's JSONL file; online only)",
    )
    p.add_argument(
        "--budgets",
        default=",".join(map(str, DEFAULT_BUDGETS)),
        help="thinking budgets, comma-separated; -1 unlimited (default: %(default)s)",
    )
    p.add_argument("--samples", type=int, default=1, help="answers per question and budget")
    p.add_argument("--enforce", choices=ENFORCEMENTS, default="hard", help="how budgets are kept")
    p.add_argument(
        "-m", "--model", help="GGUF file or model name (a server's model with --engine-url)"
    )
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--seed", type=int, help="the first sample's seed (sample k: seed + k)")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--system", help="system prompt")
    add_preset_option(p, "start from this preset's settings; the flags above override it")
    p.add_argument(
        "-o", "--output", metavar="OUT.json", type=Path, help="write the results as JSON"
    )
    p.add_argument("--csv", metavar="OUT.csv", type=Path, help="write the table per budget as CSV")
    p.add_argument(
        "--resume",
        nargs="?",
        const=LATEST,
        metavar="ID",
        help="continue a stopped or crashed sweep (the latest, of QUESTIONS' set if given, or ID)",
    )
    p.add_argument("--columns", help="hf: datasets: question=COLUMN,answer=COLUMN[,check=COLUMN]")
    p.add_argument("--hf-file", default=DEFAULT_HF_FILE, help="hf: datasets: the JSONL file")
    p.add_argument("--list", action="store_true", help="list the saved sweeps and exit")
    add_load_options(p)
    add_engine_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        sweeps = Sweeps(store.db)
        if args.list:
            _print_list(sweeps)
            return 0
        settings = load_settings()
        host = ModelHost(settings)
        try:
            record = _resumed(args, sweeps) if args.resume else None
            questions = None if record else _questions(args)
            load_model(args, host, settings)
            if record is None:
                record = start_sweep(
                    sweeps,
                    questions,
                    host.model_name,
                    parse_budgets(args.budgets),
                    args.samples,
                    _settings(args, ChatSettings.from_settings(settings)),
                )
            status = _run(host, sweeps, record)
        finally:
            host.unload()
        _results(args, sweeps, sweeps.get(record.id))
        return 0 if status == "done" else 130


def _questions(args: argparse.Namespace):
    if not args.questions:
        raise SweepError("No question set given.", hint="Name a JSONL file or a built-in set.")
    return load_questions(args.questions, parse_mapping(args.columns), args.hf_file)


def _settings(args: argparse.Namespace, base: ChatSettings) -> ChatSettings:
    chosen = with_preset(args, base)
    return chosen.replace(**{name: getattr(args, flag) for name, flag in FLAGS.items()})


def _resumed(args: argparse.Namespace, sweeps: Sweeps) -> SweepRecord:
    if args.resume != LATEST:
        return sweeps.get(sweeps.resolve(args.resume))
    name = load_questions(args.questions).name if args.questions else None
    record = sweeps.latest_unfinished(name)
    if record is None:
        raise SweepError(
            "There is no stopped sweep to resume" + (f" of {name}." if name else "."),
            hint="Start one without --resume; 'seedchat sweep --list' lists them.",
        )
    note(f"Resuming sweep {record.id[:8]} of {record.set_name}: {record.done} replies saved.")
    return record


def _run(host: ModelHost, sweeps: Sweeps, record: SweepRecord) -> str:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as Bar

    cancel = threading.Event()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Bar(*columns, TextColumn("{task.fields[left]}"), console=err_console) as bar:
        task = bar.add_task(f"Sweep {record.set_name}", total=None, left="")

        def show(progress: Progress) -> None:
            left = progress.waiting or _left(progress.seconds_left)
            bar.update(task, completed=progress.done, total=progress.total, left=left)

        with cancel_on_interrupt(cancel):
            status = run_sweep(host, sweeps, record, cancel, show)
    if status != "done":
        note(f"Stopped. Continue with: seedchat sweep --resume {record.id[:8]}")
    return status


def _left(seconds: float | None) -> str:
    if seconds is None:
        return "time left: estimating"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"time left: {hours}:{minutes:02d}:{secs:02d}"
        if hours
        else f"time left: {minutes}:{secs:02d}"
    )


def _results(args: argparse.Namespace, sweeps: Sweeps, record: SweepRecord) -> None:
    runs = sweeps.runs(record.id)
    data = report(record, runs)
    if args.output:
        atomic_write_text(args.output, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    if args.csv:
        atomic_write_text(args.csv, budgets_csv(stats(record.config["budgets"], runs)))
    _print_table(record, runs)


def _print_table(record: SweepRecord, runs: list[Any]) -> None:
    from rich.table import Table

    lines = stats(record.config["budgets"], runs)
    table = Table(title=f"{record.set_name} on {record.model} ({record.config['enforce']})")
    for column in (
        "budget",
        "n",
        "accuracy",
        "95% interval",
        "cut",
        "thinking",
        "s/answer",
        "tok/s",
    ):
        table.add_column(column, justify="right")
    for s in lines:
        table.add_row(
            budget_label(s.budget),
            str(s.n),
            f"{s.accuracy:.0%}",
            f"{s.ci95[0]:.0%}–{s.ci95[1]:.0%}",
            str(s.cut_at_budget),
            f"{s.mean_thinking_tokens:.0f}",
            f"{s.mean_seconds:.2f}",
            f"{s.tokens_per_second:.0f}" if s.tokens_per_second else "-",
        )
    console.print(table)
    best = recommended(lines)
    if best is not None:
        console.print(
            f"Recommended budget: [bold]{budget_label(best.budget)}[/] "
            f"({best.accuracy:.0%}, {best.mean_seconds:.1f} s an answer)"
        )


def _print_list(sweeps: Sweeps) -> None:
    for r in sweeps.list():
        budgets = ",".join(map(str, r.config.get("budgets", [])))
        console.print(
            f"{r.id[:8]}  {r.set_name}  {r.model}  {r.status}  {r.done} replies  [{budgets}]"
        )
