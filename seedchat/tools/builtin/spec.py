"""What the built-in tools share: a function's definition with one string argument, and a
call of such a function checked and timed (:func:`one_argument_call`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from seedchat.tools.protocol import ToolOutcome


class BuiltinTool(Protocol):
    """One built-in tool (python, files, fetch): its functions and a call of one by name."""

    def specs(self) -> list[dict[str, Any]]: ...

    def call(
        self, name: str, arguments: dict[str, Any], cancel: threading.Event
    ) -> ToolOutcome: ...


def function_spec(name: str, description: str, argument: str, about: str) -> dict[str, Any]:
    """An OpenAI function definition whose one argument, a string, is required."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {argument: {"type": "string", "description": about}},
                "required": [argument],
            },
        },
    }


def one_argument_call(
    name: str,
    arguments: dict[str, Any],
    run: Callable[[str], tuple[str, bool]],
    expected: str,
    key: str,
    empty_ok: bool = False,
) -> ToolOutcome:
    """``run(arguments[key])`` as the outcome of the tool ``expected`` (an unknown name, or
    the argument missing, is an error outcome the model can read), timed."""
    started = time.monotonic()
    value = arguments.get(key, "" if empty_ok else None)
    if name != expected:
        return ToolOutcome(f"Unknown tool: {name}", is_error=True)
    if not isinstance(value, str) or not (empty_ok or value.strip()):
        return ToolOutcome(f"Error: the argument {key!r} (a string) is missing.", True)
    text, is_error = run(value)
    return ToolOutcome(text, is_error, time.monotonic() - started)
