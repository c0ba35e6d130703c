"""`seedchat history`: List, search and export saved conversations."""

from __future__ import annotations

from seedchat.cli import not_yet


def register(sub) -> None:
    parser = sub.add_parser("history", help="List, search and export saved conversations")
    parser.set_defaults(func=not_yet("seedchat history", 6))
