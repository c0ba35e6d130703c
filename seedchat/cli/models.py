"""`seedchat models`: list the GGUF models seedchat knows."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from seedchat.cli.console import console
from seedchat.models import format_type_counts, human_count, human_size, list_models
from seedchat.settings import load_settings


def register(sub) -> None:
    parser = sub.add_parser("models", help="List the GGUF models seedchat knows")
    parser.add_argument("paths", nargs="*", help="extra GGUF files or folders to include")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    models = list_models([*settings.model_paths, *args.paths])
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "path": str(m.path),
                        "source": m.source,
                        "name": m.name,
                        "demo": m.is_demo,
                        "architecture": m.architecture,
                        "parameters": m.parameters,
                        "quantization": m.quantization,
                        "tensor_types": m.tensor_types,
                        "size_bytes": m.size_bytes,
                        "context_length": m.context_length,
                        "error": m.error,
                    }
                    for m in models
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    if not models:
        console.print(
            "No models found. Convert one with 'seedchat convert CHECKPOINT' "
            "or pass a folder: 'seedchat models ~/models'."
        )
        return 0
    table = Table(show_lines=False)
    for col in ("model", "arch", "params", "quant", "tensors", "size", "context", "path"):
        table.add_column(col, overflow="fold")
    for m in models:
        if m.ok:
            table.add_row(
                m.display_name,
                m.architecture or "?",
                human_count(m.parameters),
                m.quantization or "?",
                format_type_counts(m.tensor_types),
                human_size(m.size_bytes),
                str(m.context_length or "?"),
                str(m.path),
            )
        else:
            table.add_row(
                "[red]unreadable[/]",
                "",
                "",
                "",
                "",
                human_size(m.size_bytes),
                "",
                f"{m.path}\n[red]{m.error}[/]",
            )
    console.print(table)
    return 0
