"""`seedchat ui`: Start the web UI."""

from __future__ import annotations

from seedchat.cli import not_yet


def register(sub) -> None:
    parser = sub.add_parser("ui", help="Start the web UI")
    parser.set_defaults(func=not_yet("seedchat ui", 7))
