"""What the store returns: conversations and messages as dataclasses, and their rows.

Column lists here are the single place that names the columns of the ``conversations``
and ``messages`` tables the code reads and writes (export and import use them too);
the JSON columns (reflect reports, tool calls, notices, stats, settings) are decoded
to Python lists and dicts.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

TITLE_LENGTH = 60

ROLES = ("system", "user", "assistant", "tool")
STATUSES = ("complete", "partial", "cancelled", "error")


@dataclass
class Message:
    id: str
    conversation_id: str
    parent_id: str | None
    role: str
    content: str
    thinking: str = ""
    reflects: list[dict[str, Any]] = field(default_factory=list)
    thinking_tokens: int | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    status: str = "complete"
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    sibling_index: int = 0  # position among the answers/edits to the same parent
    sibling_count: int = 1


@dataclass
class ConversationSummary:
    id: str
    title: str
    model: str | None
    created_at: float
    updated_at: float
    message_count: int
    deleted_at: float | None = None


@dataclass
class Conversation:
    id: str
    title: str
    title_is_auto: bool
    model: str | None
    settings: dict[str, Any]
    current_leaf: str | None
    created_at: float
    updated_at: float
    deleted_at: float | None = None
    messages: list[Message] = field(default_factory=list)  # the active branch, root first


JSON_FIELDS = ("reflects", "tool_calls", "notices", "stats", "settings")
MESSAGE_COLUMNS = (
    "id",
    "conversation_id",
    "parent_id",
    "role",
    "content",
    "thinking",
    "reflects",
    "thinking_tokens",
    "tool_calls",
    "notices",
    "stats",
    "finish_reason",
    "status",
    "error",
    "settings",
    "model",
    "created_at",
    "updated_at",
)
CONVERSATION_COLUMNS = (
    "id",
    "title",
    "title_is_auto",
    "model",
    "settings",
    "current_leaf",
    "created_at",
    "updated_at",
    "deleted_at",
)


def new_id() -> str:
    return uuid.uuid4().hex


def message_from_row(row: sqlite3.Row | tuple) -> Message:
    data = dict(zip(MESSAGE_COLUMNS, row, strict=True))
    for key in JSON_FIELDS:
        data[key] = (
            json.loads(data[key]) if data[key] else ({} if key in ("stats", "settings") else [])
        )
    return Message(**data)


def conversation_from_row(row: tuple) -> Conversation:
    data = dict(zip(CONVERSATION_COLUMNS, row, strict=True))
    data["settings"] = json.loads(data["settings"] or "{}")
    data["title_is_auto"] = bool(data["title_is_auto"])
    return Conversation(**data)


def title_from_text(text: str, length: int = TITLE_LENGTH) -> str:
    """A title from a message: its first non-empty line, shortened at a word boundary."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if len(line) <= length:
        return line
    cut = line[:length]
    space = cut.rfind(" ")
    if space > length // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"
