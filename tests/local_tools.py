"""A tool runner for the tests, with no MCP server: ``get_current_time(timezone)``, the
same shape as the ``mcp-server-time`` server's tool, answered in the test's process (its
clock can be pinned). The tool loop and the session see it as they see any
:class:`~seedchat.tools.protocol.ToolRunner`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from seedchat.tools.protocol import PendingCall, ToolOutcome

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
    """``get_current_time`` in this process; ``now`` is the clock; ``server`` the MCP
    server it passes for (None: none)."""

    now: Callable[[], float] = time.time
    server: str | None = None

    def specs(self) -> list[dict[str, Any]]:
        return [GET_CURRENT_TIME]

    def server_of(self, name: str) -> str | None:
        return self.server if name == "get_current_time" else None

    def call(self, call: PendingCall, cancel: threading.Event) -> ToolOutcome:
        started = time.monotonic()
        if call.name != "get_current_time":
            return ToolOutcome(f"Unknown tool: {call.name}", is_error=True)
        text, is_error = self.current_time(call.arguments.get("timezone"))
        return ToolOutcome(text, is_error, time.monotonic() - started)

    def current_time(self, timezone: Any) -> tuple[str, bool]:
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
