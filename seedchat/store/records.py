"""What the store returns: conversations and messages as dataclasses, and their rows.

Column lists here are the single place that names the columns of the ``conversations``
and ``messages`` tables the code reads and writes (export and import use them too);
the JSON columns (reflect reports, tool calls, notices, stats, settings) are decoded
to Python lists and dicts.

The record-level functions over a :class:`~seedchat.store.db.Db` (read one
conversation's row, read messages, insert a message, update a message or a
conversation) are shared by the :class:`~seedchat.store.conversations.Store`, the
stream recorder and import, so none of them reaches into another's internals.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from seedchat.errors import StoreError
from seedchat.store.db import Db

TITLE_LENGTH = 60

ROLES = ("system", "user", "assistant", "tool")
STATUSES = ("complete", "partial", "cancelled", "error")


@dataclass
class StoredMessage:
    """One saved message (the engine's chat turn is :class:`seedchat.prompt.Message`)."""

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
    messages: list[StoredMessage] = field(default_factory=list)  # the active branch, root first


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


def message_from_row(row: sqlite3.Row | tuple) -> StoredMessage:
    data = dict(zip(MESSAGE_COLUMNS, row, strict=True))
    for key in JSON_FIELDS:
        data[key] = (
            json.loads(data[key]) if data[key] else ({} if key in ("stats", "settings") else [])
        )
    return StoredMessage(**data)


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


# -- record-level reads and writes over a Db --------------------------------------


def read_conversation(db: Db, conversation_id: str) -> Conversation:
    """One conversation's row (``messages`` left empty); StoreError if there is none."""
    cols = ", ".join(CONVERSATION_COLUMNS)
    rows = db.read(f"SELECT {cols} FROM conversations WHERE id = ?", [conversation_id])
    if not rows:
        raise StoreError(
            f"There is no conversation with id {conversation_id}.",
            hint="'seedchat history list' shows the saved conversations.",
        )
    return conversation_from_row(rows[0])


def read_messages(db: Db, where: str, params: Any = ()) -> list[StoredMessage]:
    """The messages matching an SQL ``where`` clause (it may end with ORDER BY)."""
    cols = ", ".join(MESSAGE_COLUMNS)
    rows = db.read(f"SELECT {cols} FROM messages WHERE {where}", params)
    return [message_from_row(r) for r in rows]


def insert_message(conn: sqlite3.Connection, msg: StoredMessage) -> None:
    """Insert ``msg`` as it is, inside the caller's write transaction (``Db.write``)."""
    values = []
    for col in MESSAGE_COLUMNS:
        value = getattr(msg, col)
        if col in JSON_FIELDS:
            value = json.dumps(value, ensure_ascii=False)
        values.append(value)
    marks = ", ".join("?" for _ in MESSAGE_COLUMNS)
    conn.execute(f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({marks})", values)


def update_row(db: Db, table: str, what: str, row_id: str, values: dict[str, Any]) -> None:
    """Set ``values`` on one row of ``table`` (column names are checked by the callers);
    StoreError naming ``what`` when there is no row ``row_id``."""
    sets = ", ".join(f"{k} = ?" for k in values)
    with db.write() as conn:
        cur = conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), row_id])
        if cur.rowcount == 0:
            raise StoreError(f"There is no {what} with id {row_id}.")


def update_conversation(db: Db, conversation_id: str, touch: bool = True, **values: Any) -> None:
    """Set columns of a conversation (``touch``: and its ``updated_at`` to now)."""
    if touch:
        values["updated_at"] = time.time()
    update_row(db, "conversations", "conversation", conversation_id, values)


def update_message(db: Db, message_id: str, **values: Any) -> None:
    """Overwrite fields of a stored message (JSON fields are encoded here)."""
    for key in values:
        if key not in MESSAGE_COLUMNS or key in ("id", "conversation_id", "parent_id"):
            raise StoreError(f"Message field {key!r} cannot be updated.")
    encoded = {
        k: json.dumps(v, ensure_ascii=False) if k in JSON_FIELDS else v for k, v in values.items()
    }
    encoded.setdefault("updated_at", time.time())
    update_row(db, "messages", "message", message_id, encoded)
