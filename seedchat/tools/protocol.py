"""What the tool loop (:mod:`seedchat.chat.tool_loop`) needs of tools and of the user.

- :class:`ToolRunner`: the tools the model may call. ``specs()`` are OpenAI-style
  function definitions, sorted by name (the model's template renders them into the
  prompt, so a stable order keeps the tools block a fixed prefix); ``call`` runs one
  and returns a :class:`ToolOutcome` (an error is an outcome with ``is_error``, never
  an exception the loop has to guess at).
- :class:`Approver`: asks the user about one call: ``"once"``, ``"always"`` (remembered
  by :mod:`seedchat.tools.approvals`: an MCP tool in its server's ``alwaysAllow`` in
  ``mcp.json``) or ``"deny"``. The terminal asks
  ``[y]es / [a]lways / [n]o``; ``seedchat chat --yes`` is :class:`ApproveAll`.
- :class:`LocalTools`: the tools seedchat has built in, for users without MCP servers
  and for the tests: ``get_current_time(timezone)``, the same shape as the
  ``mcp-server-time`` server's tool.

The MCP-backed runner (``seedchat/tools/``) implements :class:`ToolRunner` too;
:class:`Tools` puts several runners behind one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from seedchat.events import ToolMedia

Decision = Literal["once", "always", "deny"]
DECISIONS: tuple[Decision, ...] = ("once", "always", "deny")


@dataclass(frozen=True)
class ToolOutcome:
    """What one call gave: its text (a result, or what went wrong), how long it took."""

    text: str
    is_error: bool = False
    seconds: float = 0.0
    server: str | None = None  # the MCP server that ran it, if any
    media: tuple[ToolMedia, ...] = ()  # its images and resources, for the front end


@dataclass(frozen=True)
class PendingCall:
    """A call of the model's, about to be approved and run."""

    call_id: str
    name: str
    arguments: dict[str, Any]  # typed by the tool's JSON schema
    server: str | None = None


@runtime_checkable
class ToolRunner(Protocol):
    def specs(self) -> list[dict[str, Any]]:
        """The tools, as OpenAI function definitions, sorted by name."""
        ...

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        """Run the tool ``name``; an unknown tool or a failure is an ``is_error`` outcome."""
        ...


class Approver(Protocol):
    def decide(self, call: PendingCall) -> Decision:
        """Whether ``call`` may run: once, always (this tool, remembered), or not."""
        ...


class ApproveAll:
    """Every call of this run approved once (``seedchat chat --yes``); nothing remembered."""

    def decide(self, call: PendingCall) -> Decision:
        return "once"


class DenyAll:
    """Every call declined (no one is there to ask)."""

    def decide(self, call: PendingCall) -> Decision:
        return "deny"


def server_of(runner: ToolRunner, name: str) -> str | None:
    """The MCP server that has the tool ``name`` (None: a built-in tool, or not known)."""
    find = getattr(runner, "server_of", None)
    return find(name) if callable(find) else None


def tool_names(specs: Sequence[dict[str, Any]]) -> list[str]:
    """The names of the tools in ``specs`` (OpenAI's shape or a bare function)."""
    names = []
    for spec in specs:
        function = spec.get("function", spec)
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return names


# -- built-in tools -------------------------------------------------------------------

GET_CURRENT_TIME: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_current_time",
        "description": "Get the current time in a specific timezone",
        "parameters": {
            "type": "object",
            "properties": {
                "timezone": {
                    "type": "string",
                    "description": "IANA timezone name (e.g. 'America/New_York', "
                    "'Europe/London'). Use 'UTC' if the user names no timezone.",
                }
            },
            "required": ["timezone"],
        },
    },
}


@dataclass
class LocalTools:
    """seedchat's built-in tools (see the module doc); ``now`` is the clock (for tests)."""

    now: Callable[[], float] = time.time

    def specs(self) -> list[dict[str, Any]]:
        return [GET_CURRENT_TIME]

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        started = time.monotonic()
        if name != "get_current_time":
            return ToolOutcome(f"Unknown tool: {name}", is_error=True)
        text, is_error = self._current_time(arguments.get("timezone"))
        return ToolOutcome(text, is_error, time.monotonic() - started)

    def _current_time(self, timezone: Any) -> tuple[str, bool]:
        if not isinstance(timezone, str) or not timezone.strip():
            return (
                "Error: the argument 'timezone' (an IANA name such as 'Asia/Tokyo') is missing.",
                True,
            )
        try:
            zone = ZoneInfo(timezone.strip())
        except (ZoneInfoNotFoundError, ValueError):
            return (
                f"Error: invalid timezone {timezone!r}; use an IANA name such as 'Asia/Tokyo'.",
                True,
            )
        moment = datetime.fromtimestamp(self.now(), zone)
        result = {
            "timezone": timezone.strip(),
            "datetime": moment.isoformat(timespec="seconds"),
            "day_of_week": moment.strftime("%A"),
            "is_dst": bool(moment.dst()),
        }
        return json.dumps(result, ensure_ascii=False, indent=2), False


@dataclass
class Tools:
    """Several runners as one: each tool is run by the first runner that has it."""

    runners: list[ToolRunner] = field(default_factory=list)

    def specs(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for runner in self.runners:
            for spec in runner.specs():
                for name in tool_names([spec]):
                    seen.setdefault(name, spec)
        return [seen[name] for name in sorted(seen)]

    def server_of(self, name: str) -> str | None:
        for runner in self.runners:
            if name in tool_names(runner.specs()):
                return server_of(runner, name)
        return None

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        for runner in self.runners:
            if name in tool_names(runner.specs()):
                return runner.call(name, arguments, cancel)
        return ToolOutcome(f"Unknown tool: {name}", is_error=True)
