"""The built-in tools switched on, as one of the tool loop's runners
(:class:`seedchat.tools.protocol.ToolRunner`), beside the MCP servers' (:func:`with_builtins`).

A built-in tool has no server (``server_of`` is None), so its calls are approved exactly as
the MCP servers' are — asked, always allowed (remembered in ``builtin_tools.json``'s
``alwaysAllow`` by :mod:`seedchat.tools.approvals`) or auto — and its card says "built in".
"""

from __future__ import annotations

import threading
from typing import Any

from seedchat.seed.prompt_tokens import CHARS_PER_TOKEN
from seedchat.settings import Settings, load_settings
from seedchat.tools.builtin.config import BUILTINS, BuiltinConfig, check_name
from seedchat.tools.builtin.fetch import FetchLimits, FetchTool
from seedchat.tools.builtin.files import FilesTool
from seedchat.tools.builtin.python import PythonLimits, PythonTool
from seedchat.tools.builtin.spec import BuiltinTool
from seedchat.tools.protocol import PendingCall, ToolOutcome, ToolRunner, Tools, tool_names
from seedchat.tools.results import ToolInfo


def make_tool(name: str, config: BuiltinConfig, settings: Settings) -> BuiltinTool:
    """The built-in tool ``name`` with the settings' limits (whether on or not)."""
    # a result's room in characters, from tool_result_max_tokens
    room = int(settings.get("tool_result_max_tokens")) * CHARS_PER_TOKEN
    check_name(name)
    if name == "python":
        return PythonTool(PythonLimits.from_settings(settings))
    if name == "files":
        return FilesTool(config.folders, max_chars=room)
    return FetchTool(FetchLimits.from_settings(settings, max_chars=room))


class BuiltinTools:
    """The built-in tools ``config`` switched on (each off until switched on)."""

    def __init__(
        self, config: BuiltinConfig | None = None, settings: Settings | None = None
    ) -> None:
        self.config = config or BuiltinConfig.load()
        settings = settings or load_settings()
        self.tools: dict[str, BuiltinTool] = {
            name: make_tool(name, self.config, settings)
            for name in BUILTINS
            if name in self.config.enabled
        }

    def __bool__(self) -> bool:
        return bool(self.tools)

    def specs(self) -> list[dict[str, Any]]:
        specs = [spec for tool in self.tools.values() for spec in tool.specs()]
        return sorted(specs, key=lambda spec: spec["function"]["name"])

    def server_of(self, name: str) -> str | None:
        return None  # built in: approved like a tool of no server

    def builtin_of(self, name: str) -> str | None:
        """Which built-in tool (python, files, fetch) has the function ``name``."""
        return next((b for b, t in self.tools.items() if name in tool_names(t.specs())), None)

    def call(self, call: PendingCall, cancel: threading.Event) -> ToolOutcome:
        builtin = self.builtin_of(call.name)
        if builtin is None:
            return ToolOutcome(f"There is no built-in tool {call.name!r} switched on.", True)
        return self.tools[builtin].call(call.name, call.arguments, cancel)


def tool_infos(name: str, settings: Settings | None = None) -> list[ToolInfo]:
    """The functions of the built-in tool ``name``, as a server's are listed."""
    tool = make_tool(name, BuiltinConfig.load(), settings or load_settings())
    return [
        ToolInfo(
            name,
            spec["function"]["name"],
            spec["function"].get("description", ""),
            spec["function"].get("parameters", {}),
        )
        for spec in tool.specs()
    ]


def with_builtins(
    runner: ToolRunner | None, builtins: BuiltinTools | None = None
) -> ToolRunner | None:
    """The switched-on built-in tools first, then ``runner``'s (the MCP servers'); None
    when there are none at all."""
    builtins = builtins if builtins is not None else BuiltinTools()
    if not builtins:
        return runner
    return Tools([builtins, runner]) if runner is not None else builtins
