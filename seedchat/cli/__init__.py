"""The ``seedchat`` command: a thin layer that parses arguments and calls the library.

Each verb lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a function
taking the parsed arguments and returning an exit code. Errors from the library
(:class:`SeedchatError`) are printed without a traceback unless ``--debug``.
This file holds only the entry point and the verbs' registration: the verbs write
through :mod:`seedchat.cli.console` and share their options in :mod:`seedchat.cli.options`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

import seedchat
from seedchat.cli.console import err_console, print_error
from seedchat.errors import SeedchatError

# Every verb, in the order `seedchat --help` lists them: each is a module of this package
# (seedchat.cli.<verb>) with ``register(subparsers)``.
VERBS = (
    "ui",
    "chat",
    "serve",
    "pull",
    "convert",
    "models",
    "plan",
    "presets",
    "history",
    "sweep",
    "tools",
    "doctor",
)


def _verb_module(verb: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{verb}")


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The command's parser: every verb's options, or with ``verb`` only that verb's (the
    others are there by name). A command then imports its own verb's module and what that
    needs, not every verb's: ``seedchat tools list`` never loads the chat's store."""
    parser = argparse.ArgumentParser(
        prog="seedchat",
        description="A local, private chat app for ByteDance's Seed models, on llama.cpp. "
        "With no command, starts the web UI (same as 'seedchat ui').",
    )
    parser.add_argument("--version", action="version", version=f"seedchat {seedchat.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")  # none given: "ui"
    for name in VERBS:
        if verb in (None, name):
            _verb_module(name).register(sub)
        else:
            sub.add_parser(name)
    return parser


GLOBAL_FLAGS = ("--debug",)
DEFAULT_VERB = "ui"


def with_default_verb(argv: Sequence[str], verbs: Sequence[str]) -> list[str]:
    """``argv`` with ``ui`` put in where no verb is named, so the default verb takes its
    own options without being named: ``seedchat --port 8000`` is ``seedchat ui --port 8000``."""
    argv = list(argv)
    i = 0
    while i < len(argv) and argv[i] in GLOBAL_FLAGS:
        i += 1
    if i < len(argv) and (argv[i] in verbs or argv[i] in ("-h", "--help", "--version")):
        return argv
    return [*argv[:i], DEFAULT_VERB, *argv[i:]]


def named_verb(argv: Sequence[str]) -> str | None:
    """The verb ``argv`` names (after the global flags), if any."""
    rest = [arg for arg in argv if arg not in GLOBAL_FLAGS]
    return rest[0] if rest and rest[0] in VERBS else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = with_default_verb(sys.argv[1:] if argv is None else argv, VERBS)
    args = build_parser(named_verb(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.debug:
        logging.getLogger("seedchat.llama_cpp").setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except SeedchatError as err:
        print_error(err, traceback=args.debug)
        return 1
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
