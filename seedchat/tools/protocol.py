"""What the tool loop (:mod:`seedchat.chat.tool_loop`) needs of tools and of the user.

- :class:`ToolRunner`: the tools the model may call. ``specs()`` are OpenAI-style
  function definitions, sorted by name (the model's template renders them into the
  prompt, so a stable order keeps the tools block a fixed prefix); ``server_of`` names the
  MCP server that has a tool (asked once per call: the loop puts it in the
  :class:`PendingCall`); ``call`` runs a pending call and returns a :class:`ToolOutcome`
  (an error is an outcome with ``is_error``, never an exception the loop has to guess at).
- :class:`Approver`: asks the user about one call: ``"once"``, ``"always"`` (remembered
  by :mod:`seedchat.tools.approvals`: an MCP tool in its server's ``alwaysAllow`` in
  ``mcp.json``) or ``"deny"``. The terminal asks
  ``[y]es / [a]lways / [n]o``; ``seedchat chat --yes`` is :class:`ApproveAll`.

The runner of the page and the terminal is :class:`seedchat.tools.mcp_tools.McpTools` (the
MCP servers' tools), less the tools a conversation switched off
(:class:`seedchat.tools.mcp_tools.ChosenTools`); the tests have a runner of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

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
    server: str | None = None  # the MCP server that has the tool (None: not an MCP tool)


@runtime_checkable
class ToolRunner(Protocol):
    def specs(self) -> list[dict[str, Any]]:
        """The tools, as OpenAI function definitions, sorted by name."""
        ...

    def server_of(self, name: str) -> str | None:
        """The MCP server that has the tool ``name`` (None: not an MCP tool, or not known)."""
        ...

    def call(self, call: PendingCall, cancel: threading.Event) -> ToolOutcome:
        """Run ``call`` (its ``server`` is :meth:`server_of` its tool); an unknown tool or a
        failure is an ``is_error`` outcome."""
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


def tool_names(specs: Sequence[dict[str, Any]]) -> list[str]:
    """The names of the tools in ``specs`` (OpenAI's shape or a bare function)."""
    names = []
    for spec in specs:
        function = spec.get("function", spec)
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return names


@dataclass
class Tools:
    """Several runners as one (the built-in tools beside the MCP servers'): each tool is
    run by the first runner that has it."""

    runners: list[ToolRunner] = field(default_factory=list)

    def specs(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for runner in self.runners:
            for spec in runner.specs():
                for name in tool_names([spec]):
                    seen.setdefault(name, spec)
        return [seen[name] for name in sorted(seen)]

    def _runner_of(self, name: str) -> ToolRunner | None:
        return next((r for r in self.runners if name in tool_names(r.specs())), None)

    def server_of(self, name: str) -> str | None:
        runner = self._runner_of(name)
        return runner.server_of(name) if runner is not None else None

    def call(self, call: PendingCall, cancel: threading.Event) -> ToolOutcome:
        runner = self._runner_of(call.name)
        if runner is None:
            return ToolOutcome(f"Unknown tool: {call.name}", is_error=True)
        return runner.call(call, cancel)
