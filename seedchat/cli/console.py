"""The terminal every verb writes to: the output and error consoles (rich), warnings and
errors worded one way, and a polite kill stopping the app as Ctrl+C does."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from seedchat.errors import SeedchatError

#: What a verb prints (its results); a pipe gets them without colour.
console = Console(highlight=False)
#: What goes beside the results: progress, warnings, errors, where a chat was saved.
err_console = Console(stderr=True, highlight=False)


def warn(text: str, loud: bool = False) -> None:
    """ "warning: …" on stderr (``loud``: in bold, for a risk such as an open port)."""
    style = "bold yellow" if loud else "yellow"
    err_console.print(f"[{style}]warning:[/] {escape(text)}")


def note(text: str) -> None:
    """A dimmed remark on stderr, beside the results (which chat is continued, saved)."""
    err_console.print(f"[dim]{escape(text)}[/]")


def print_error(err: SeedchatError, traceback: bool = False) -> None:
    """A library error as a user reads it: what was wrong, then what to do."""
    if traceback:
        err_console.print_exception()
    err_console.print(f"[bold red]error:[/] {escape(err.message)}")
    if err.hint:
        err_console.print(f"  [yellow]→[/] {escape(err.hint)}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """A polite kill (SIGTERM: logout, a service manager) stops the app as Ctrl+C does."""
    import signal

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _interrupt)
