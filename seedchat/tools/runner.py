"""The configured MCP servers' tools as the tool loop's runner
(:class:`seedchat.tool_runner.ToolRunner`): their definitions for the prompt, each call
sent to the server that has the tool."""

from __future__ import annotations

import logging
import threading
from typing import Any

from seedchat.tool_runner import ToolOutcome
from seedchat.tools.host import ToolHost

log = logging.getLogger(__name__)


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

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        server = self.server_of(name)
        if server is None:
            known = ", ".join(sorted(self._servers)) or "none"
            return ToolOutcome(f"There is no tool named {name!r} (tools: {known}).", True)
        result = self.host.call(server, name, arguments, cancel=cancel)
        text = result.text if not result.error else f"{result.error}\n{result.text}".strip()
        return ToolOutcome(text, result.is_error, result.duration_s, server)
