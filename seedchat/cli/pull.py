"""`seedchat pull REPO[:QUANT]`: a ready GGUF from the Hugging Face hub, sized to this machine."""

from __future__ import annotations

import argparse

from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from seedchat.cli.console import console
from seedchat.hub import (
    PullProgress,
    PullResult,
    Recommendation,
    RepoListing,
    download,
    list_repo,
    parse_spec,
    recommend_listing,
    select,
)
from seedchat.hub.recommend import context_for
from seedchat.models import human_size
from seedchat.settings import load_settings


def register(sub) -> None:
    parser = sub.add_parser(
        "pull",
        help="Download a GGUF model from the Hugging Face hub",
        description="Download a ready GGUF model into seedchat's models folder. REPO:QUANT "
        "picks a quantization (unsloth/Seed-OSS-36B-Instruct-GGUF:Q4_K_M); with REPO alone, "
        "seedchat lists what it offers, says what fits this machine, and downloads the best "
        "fit. An interrupted download continues where it stopped; every file is checked "
        "against the hub's sha256. HF_TOKEN is used for gated repositories.",
    )
    parser.add_argument("spec", metavar="REPO[:QUANT]", help="a hub repository of GGUF files")
    parser.add_argument("--file", metavar="NAME", help="a file of the repository (not :QUANT)")
    parser.add_argument(
        "-o", "--out", metavar="DIR", help="folder to save into (default: the models folder)"
    )
    parser.add_argument("--revision", help="a branch, tag or commit (default: main)")
    parser.add_argument(
        "--list", action="store_true", help="only list the files and what fits; download nothing"
    )
    parser.set_defaults(func=run)


def fit_table(listing: RepoListing, rec: Recommendation) -> Table:
    table = Table(title=f"{listing.repo}", title_justify="left", show_lines=False)
    for col in ("quant", "size", f"on this machine (context {rec.context})", ""):
        table.add_column(col, overflow="fold")
    for fit in rec.fits:
        mark = "[green]← best fit[/]" if fit is rec.best else ""
        table.add_row(fit.quant, human_size(fit.size_bytes), fit.text, mark)
    return table


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    repo, quant = parse_spec(args.spec)
    listing = list_repo(repo, args.revision)
    rec = None
    if args.list or not (quant or args.file):
        rec = recommend_listing(
            listing, context=context_for(settings), kv_cache_type=settings.get("kv_cache_type")
        )
        console.print(f"This machine: {rec.machine.describe()}.")
        console.print(fit_table(listing, rec))
        if args.list:
            if rec.best is not None:
                console.print(f"Best fit: seedchat pull {repo}:{rec.best.quant}")
            return 0
    option = select(listing, quant, args.file, recommendation=rec)
    console.print(f"Downloading {option.name} ({human_size(option.size_bytes)}) from {repo}")
    try:
        result = _download_with_bar(listing, option, args.out)
    except KeyboardInterrupt:
        console.print(
            "[yellow]Interrupted.[/] What was downloaded is kept: run the same command again "
            "to continue."
        )
        return 130
    _done(result)
    return 0


def _download_with_bar(listing: RepoListing, option, out: str | None) -> PullResult:
    """Download with a bar: bytes, speed and time left (a second bar for each sha256)."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[sizes]}"),
        TextColumn("{task.fields[speed]}"),
        TextColumn("{task.fields[left]}"),
    )
    tasks: dict[str, TaskID] = {}
    with Progress(*columns, console=console, transient=False) as bar:

        def on_progress(p: PullProgress) -> None:
            if p.stage == "done":
                return
            key = "download" if p.stage == "download" else f"sha256 {p.file}"
            if key not in tasks:
                tasks[key] = bar.add_task(key, total=p.total, sizes="", speed="", left="")
            bar.update(
                tasks[key],
                completed=p.done,
                total=p.total,
                sizes=f"{human_size(p.done)} / {human_size(p.total)}",
                speed=f"{human_size(p.speed)}/s" if p.speed else "",
                left=f"{_duration(p.eta)} left" if p.eta is not None else "",
            )

        return download(listing, option, out, progress=on_progress)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _done(result: PullResult) -> None:
    size = human_size(result.option.size_bytes)
    if result.already:
        console.print(f"[green]✓[/] already downloaded: {result.path} ({size})")
    else:
        resumed = f", {human_size(result.resumed)} of it resumed" if result.resumed else ""
        console.print(f"[green]✓[/] saved {result.path} ({size}, sha256 checked{resumed})")
    console.print(f"  Chat with it: seedchat chat -m {result.path.stem}  ·  or: seedchat ui")
