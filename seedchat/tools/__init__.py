"""Tools from MCP servers: the configured servers (:mod:`~seedchat.tools.config`), their
lifecycle and calls (:class:`ToolHost`), what a call returns (:mod:`~seedchat.tools.results`)
and what the tools cost in a prompt (:mod:`~seedchat.tools.cost`). Only
:mod:`seedchat.tools.mcp_client` imports the MCP SDK."""

from seedchat.tools.config import ServerEntry, ToolConfigError, ToolsConfig, config_file
from seedchat.tools.host import ToolHost, child_environment, log_file
from seedchat.tools.results import ContentPart, ServerStatus, ToolInfo, ToolResult

__all__ = [
    "ContentPart",
    "ServerEntry",
    "ServerStatus",
    "ToolConfigError",
    "ToolHost",
    "ToolInfo",
    "ToolResult",
    "ToolsConfig",
    "child_environment",
    "config_file",
    "log_file",
]
