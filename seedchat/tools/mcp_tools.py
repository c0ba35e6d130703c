"""The configured MCP servers' tools as the tool loop's runner
(:class:`seedchat.tools.protocol.ToolRunner`): their definitions for the prompt, each call
sent to the server that has the tool. A result's images and resources go to the front
end as :class:`~seedchat.events.ToolMedia` (an image over :data:`MAX_IMAGE_BYTES` only
named); :class:`ChosenTools` leaves out the tools a conversation switched off."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence
from typing import Any

from seedchat.events import ToolMedia
from seedchat.tools.protocol import PendingCall, ToolOutcome, ToolRunner, tool_names
from seedchat.tools.results import ContentPart
from seedchat.tools.servers import ToolHost

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 512 * 1024  # an image larger than this is named on its card, not shown


def media_of(parts: Sequence[ContentPart]) -> tuple[ToolMedia, ...]:
    """The parts of a result that are not text, as a front end shows them."""
    out = []
    for part in parts:
        if part.kind == "text" or (part.kind == "resource" and part.text and not part.uri):
            continue
        size = len(part.data) * 3 // 4 if part.data else 0
        shown = part.data if part.kind == "image" and size <= MAX_IMAGE_BYTES else None
        out.append(ToolMedia(part.kind, part.mime_type, shown, part.uri, part.name, size))
    return tuple(out)


class McpTools:
    """Every enabled server's tools, by name (a name two servers share: the first server's,
    in the config's order, with a warning)."""

    def __init__(self, host: ToolHost) -> None:
        self.host = host
        self._servers: dict[str, str] = {}  # tool name → its server

    def specs(self) -> list[dict[str, Any]]:
        servers: dict[str, str] = {}
        specs = []
        for tool in self.host.list_tools():
            if tool.name in servers:
                log.warning(
                    "the tool %r of %s is hidden: %s has a tool of that name",
                    tool.name,
                    tool.server,
                    servers[tool.name],
                )
                continue
            servers[tool.name] = tool.server
            specs.append(tool.to_template())
        self._servers = servers
        return sorted(specs, key=lambda spec: spec["function"]["name"])

    def server_of(self, name: str) -> str | None:
        if name not in self._servers:
            self.specs()  # a server started since, or none was asked yet
        return self._servers.get(name)

    def call(self, call: PendingCall, cancel: threading.Event) -> ToolOutcome:
        """``call`` sent to its server (``call.server``, found by :meth:`server_of`)."""
        server = call.server
        if server is None:
            known = ", ".join(sorted(self._servers)) or "none"
            return ToolOutcome(f"There is no tool named {call.name!r} (tools: {known}).", True)
        result = self.host.call(server, call.name, call.arguments, cancel=cancel)
        text = result.text if not result.error else f"{result.error}\n{result.text}".strip()
        return ToolOutcome(text, result.is_error, result.duration_s, server, media_of(result.parts))


def tool_key(server: str | None, name: str) -> str:
    """How a conversation names a tool it switched off: ``server/tool``."""
    return f"{server}/{name}" if server else name


class ChosenTools:
    """``runner``'s tools less those ``off`` names (``server`` for all of a server's, or
    ``server/tool``): the tools one conversation uses."""

    def __init__(self, runner: ToolRunner, off: Collection[str]) -> None:
        self.runner, self.off = runner, set(off)

    def _on(self, name: str, server: str | None) -> bool:
        return server not in self.off and tool_key(server, name) not in self.off

    def specs(self) -> list[dict[str, Any]]:
        return [
            spec
            for spec in self.runner.specs()
            if all(self._on(n, self.runner.server_of(n)) for n in tool_names([spec]))
        ]

    def server_of(self, name: str) -> str | None:
        return self.runner.server_of(name)

    def call(self, call: PendingCall, cancel: threading.Event) -> ToolOutcome:
        if not self._on(call.name, call.server):
            text = f"The tool {call.name!r} is switched off in this conversation."
            return ToolOutcome(text, True)
        return self.runner.call(call, cancel)
