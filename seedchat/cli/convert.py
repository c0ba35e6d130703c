"""`seedchat convert`: Convert a Hugging Face checkpoint to GGUF."""

from __future__ import annotations

from seedchat.cli import not_yet


def register(sub) -> None:
    parser = sub.add_parser("convert", help="Convert a Hugging Face checkpoint to GGUF")
    parser.set_defaults(func=not_yet("seedchat convert", 4))
