"""`seedchat presets`: the presets (built in and your own), what each sets; rename or delete
your own. Save one in the page's settings column ("Save as preset")."""

from __future__ import annotations

import argparse
import json

from rich.markup import escape
from rich.table import Table

from seedchat.cli.console import console, note, warn
from seedchat.presets import Preset, load_presets

DESCRIPTION = (
    "List the presets: named settings (system prompt, thinking budget and enforcement, "
    "sampling) for 'seedchat chat --preset NAME', 'seedchat serve --preset NAME', the API's "
    "seedchat.preset and the page's Preset picker. The built-in ones come from the Seed model "
    "cards; save your own in the page."
)


def register(sub) -> None:
    p = sub.add_parser("presets", help="List, rename or delete presets", description=DESCRIPTION)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the presets (the default)")
    rename = actions.add_parser("rename", help="rename one of your presets")
    rename.add_argument("old", metavar="NAME")
    rename.add_argument("new", metavar="NEW_NAME")
    delete = actions.add_parser("delete", help="delete one of your presets")
    delete.add_argument("name", metavar="NAME")
    p.set_defaults(func=run)


def as_dict(preset: Preset) -> dict:
    return {
        **preset.to_dict(),
        "builtin": preset.builtin,
        "source": preset.source,
        "summary": preset.summary(),
    }


def run(args: argparse.Namespace) -> int:
    presets = load_presets()
    if args.action == "rename":
        renamed = presets.rename(args.old, args.new)
        note(f"renamed {args.old!r} to {renamed.name!r}")
        return 0
    if args.action == "delete":
        presets.delete(args.name)
        note(f"deleted the preset {args.name!r}")
        return 0
    if presets.problem is not None:
        warn(f"your presets are left out: {presets.problem.message}")
    if args.json:
        print(json.dumps([as_dict(p) for p in presets.all], indent=2, ensure_ascii=False))
        return 0
    table = Table(show_lines=False)
    for column in ("preset", "sets", "about"):
        table.add_column(column, overflow="fold")
    for preset in presets.all:
        about = preset.description or ""
        if not preset.builtin:
            about = f"yours{': ' + about if about else ''}"
        table.add_row(escape(preset.name), escape(preset.summary()), escape(about))
    console.print(table)
    console.print(
        "Use one with 'seedchat chat --preset NAME' or 'seedchat serve --preset NAME'; "
        f"yours are kept in {presets.path}.",
        soft_wrap=True,
        markup=False,
    )
    return 0
