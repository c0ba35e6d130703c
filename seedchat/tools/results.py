"""What the tool host hands out: tools, a call's result, a server's state (no MCP types).

A :class:`McpResult` is returned for every call, whatever happened: the server's own
error (``isError``) is ``status="error"``; seedchat's side — a server that did not start,
crashed, took longer than the timeout, or a call the user cancelled — is ``"failed"``,
``"timeout"`` or ``"cancelled"`` with ``error`` saying what happened and what to do. So a
tool loop can always give the model a result, and a card can always show a status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "error", "failed", "timeout", "cancelled"]
ServerState = Literal["off", "stopped", "starting", "ready", "failed", "crashed", "stopping"]


@dataclass(frozen=True)
class ToolInfo:
    """One tool of one server, as the server lists it."""

    server: str
    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    output_schema: dict[str, Any] | None = None

    def to_template(self) -> dict[str, Any]:
        """The tool in the OpenAI shape the chat template reads (``tools`` of
        :meth:`seedchat.seed.template.ChatTemplate.render`)."""
        schema = self.input_schema or {"type": "object", "properties": {}}
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": schema},
        }


@dataclass(frozen=True)
class ContentPart:
    """One piece of a result: ``text``, or an ``image``/``audio`` (base64 ``data``), a
    ``resource`` (its ``uri`` with ``text`` or base64 ``data``) or a ``resource_link``."""

    kind: Literal["text", "image", "audio", "resource", "resource_link"]
    text: str | None = None
    data: str | None = None
    mime_type: str | None = None
    uri: str | None = None
    name: str | None = None

    def as_text(self) -> str:
        """The part as the model reads it: text itself, anything else named."""
        if self.kind == "text":
            return self.text or ""
        if self.kind == "resource" and self.text is not None:
            return self.text
        label = self.name or self.uri or ""
        what = f"{self.kind.replace('_', ' ')} {label}".strip()
        return f"[{what}{f' ({self.mime_type})' if self.mime_type else ''}]"


@dataclass(frozen=True)
class McpResult:
    server: str
    tool: str
    status: Status
    parts: tuple[ContentPart, ...] = ()
    structured: dict[str, Any] | None = None
    error: str | None = None  # what went wrong on seedchat's side, for a user
    duration_s: float = 0.0

    @property
    def is_error(self) -> bool:
        return self.status != "ok"

    @property
    def text(self) -> str:
        """The whole result as text: its parts, else the structured content as JSON, else
        the error."""
        if self.parts:
            return "\n".join(p.as_text() for p in self.parts)
        if self.structured is not None:
            return json.dumps(self.structured, ensure_ascii=False)
        return self.error or ""


@dataclass(frozen=True)
class ServerStatus:
    """A server's state now: its tools when ready, its error (with the tail of its stderr)
    when it failed or crashed."""

    name: str
    state: ServerState
    transport: Literal["stdio", "http"]
    target: str  # the command line or the URL
    tools: tuple[ToolInfo, ...] = ()
    error: str | None = None
    pid: int | None = None
