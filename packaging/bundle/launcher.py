"""Entry point of the one-click build: the ``seedchat`` command, with the web UI as default.

Double-clicked (no arguments) it starts the UI and opens it in the browser, exactly as
``seedchat`` does. With arguments it is the whole ``seedchat`` command
(``seedchat doctor``, ``seedchat ui --no-browser --port 7861``); options given without
a command are the UI's (``seedchat --no-browser --port 7861``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys

# Global options of `seedchat` (they come before the command).
GLOBAL_OPTIONS = {"-h", "--help", "--version", "--debug"}


def with_command(args: list[str], commands: set[str]) -> list[str]:
    """``args`` with ``ui`` inserted after the global options when no command is named."""
    i = 0
    while i < len(args) and args[i] in GLOBAL_OPTIONS:
        i += 1
    if i < len(args) and args[i] in commands:
        return args
    if i == len(args) and any(a in ("-h", "--help", "--version") for a in args):
        return args
    return [*args[:i], "ui", *args[i:]]


def main() -> int:
    multiprocessing.freeze_support()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

    import argparse

    from seedchat.cli import build_parser
    from seedchat.cli import main as seedchat_main

    parser = build_parser()
    commands = {
        name
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    return seedchat_main(with_command(sys.argv[1:], commands))


if __name__ == "__main__":
    sys.exit(main())
