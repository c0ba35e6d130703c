"""`seedchat convert`: Hugging Face checkpoint (folder or hub id) → GGUF, with progress bars."""

from __future__ import annotations

import argparse

from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from seedchat.cli.console import console
from seedchat.converters import (
    DEFAULT_QUANT,
    QUANT_TYPES,
    TWO_PASS_TYPES,
    ConvertProgress,
    convert_checkpoint,
)
from seedchat.models import human_size


def register(sub) -> None:
    parser = sub.add_parser(
        "convert",
        help="Convert a Hugging Face checkpoint to GGUF",
        description="Convert a Seed-OSS or Seed-Coder checkpoint (a local folder or a Hugging "
        "Face hub id such as ByteDance-Seed/Seed-OSS-36B-Instruct) into a GGUF file.",
    )
    parser.add_argument("src", help="checkpoint folder or hub id")
    parser.add_argument("-o", "--out", help="output .gguf file (default: seedchat's models folder)")
    parser.add_argument(
        "--quant",
        default=DEFAULT_QUANT,
        type=str.upper,
        choices=QUANT_TYPES,
        metavar="TYPE",
        help=f"{', '.join(QUANT_TYPES)} (default {DEFAULT_QUANT}); all but "
        f"{', '.join(TWO_PASS_TYPES)} are quantized in one pass, with no 16-bit file",
    )
    parser.add_argument(
        "--imatrix",
        metavar="FILE",
        help="importance matrix from llama.cpp's llama-imatrix (GGUF or .dat) for the quantizer",
    )
    parser.add_argument(
        "--threads", type=int, default=0, metavar="N", help="quantizer threads (0: one per core)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TextColumn("{task.fields[extra]}"),
        TimeRemainingColumn(),
    )
    tasks: dict[str, TaskID] = {}
    with Progress(*columns, console=console, transient=False) as bar:

        def on_progress(p: ConvertProgress) -> None:
            if p.stage == "done":
                return
            if p.stage not in tasks:
                label = {"download": "download", "convert": "tensors", "quantize": p.message}
                tasks[p.stage] = bar.add_task(
                    label.get(p.stage, p.stage), total=p.total, count="", extra=""
                )
            count = f"{p.done}/{p.total} tensors" if p.stage == "convert" else ""
            extra = (
                f"{human_size(p.bytes_done)} / {human_size(p.bytes_total)}" if p.bytes_total else ""
            )
            if p.target_type:
                extra += f"  {p.tensor} → {p.target_type}"
            done, total = (p.bytes_done, p.bytes_total) if p.bytes_total else (p.done, p.total)
            bar.update(tasks[p.stage], completed=done, total=total, count=count, extra=extra)

        path = convert_checkpoint(
            args.src,
            args.out,
            quant=args.quant,
            force=args.force,
            progress=on_progress,
            imatrix=args.imatrix,
            threads=args.threads,
        )
    console.print(f"[green]✓[/] wrote {path} ({human_size(path.stat().st_size)})")
    return 0
