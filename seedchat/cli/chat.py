"""`seedchat chat`: Chat with a model in the terminal."""

from __future__ import annotations

from seedchat.cli import not_yet


def register(sub) -> None:
    parser = sub.add_parser("chat", help="Chat with a model in the terminal")
    parser.set_defaults(func=not_yet("seedchat chat", 5))
