"""What the store returns: conversations and messages as dataclasses, and their rows.

Column lists here are the single place that names the columns of the ``conversations``
and ``messages`` tables the code reads and writes (export and import use them too;
:data:`SUMMARY_COLUMNS` are the fields of a listed conversation); the JSON columns
(reflect reports, tool calls, notices, stats, settings) are decoded to Python lists and
dicts. A conversation's ``origin`` is one of :data:`ORIGINS` (:func:`check_origin`).

The record-level functions over a :class:`~seedchat.store.db.Db` (read one
conversation's row, read messages, walk branches without their text, insert a
conversation or a message, update a message or a conversation) are shared by the
:class:`~seedchat.store.conversations.Store`, the stream recorder and import, so none
of them reaches into another's internals.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seedchat.documents.read import Document
from seedchat.errors import StoreError
from seedchat.store.db import Db

TITLE_LENGTH = 60

ROLES = ("system", "user", "assistant", "tool")
STATUSES = ("complete", "partial", "cancelled", "error")
#: Where a conversation came from: "app" (the web UI, ``seedchat chat``) or "api" (the
#: OpenAI-compatible HTTP API, saved with ``--save``).
ORIGINS = ("app", "api")


@dataclass
class StoredMessage:
    """One saved message (the engine's chat turn is :class:`seedchat.seed.template.Message`)."""

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
    tool_call_id: str | None = None  # a tool turn: the call it answers
    tool_name: str | None = None  # a tool turn: the tool that ran
    sibling_index: int = 0  # position among the answers/edits to the same parent
    sibling_count: int = 1
    attachments: list[Document] = field(default_factory=list)  # a question's files, in order


@dataclass
class ConversationSummary:
    id: str
    title: str
    model: str | None
    created_at: float
    updated_at: float
    message_count: int
    deleted_at: float | None = None
    origin: str = "app"


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
    origin: str = "app"
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
    "tool_call_id",
    "tool_name",
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
    "origin",
)
#: ConversationSummary's fields, in order; all are columns of ``conversations`` but
#: ``message_count``, which is counted (:func:`summary_select`).
SUMMARY_COLUMNS = (
    "id",
    "title",
    "model",
    "created_at",
    "updated_at",
    "message_count",
    "deleted_at",
    "origin",
)
_COUNTED = {"message_count": "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)"}


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


def summary_select() -> str:
    """The SELECT list of :data:`SUMMARY_COLUMNS` over ``conversations c``."""
    return ", ".join(_COUNTED.get(col, f"c.{col}") for col in SUMMARY_COLUMNS)


def summary_from_row(row: tuple) -> ConversationSummary:
    """A row selected with :func:`summary_select`."""
    return ConversationSummary(**dict(zip(SUMMARY_COLUMNS, row, strict=True)))


def check_origin(origin: str) -> str:
    """``origin`` if it is one of :data:`ORIGINS`, else a StoreError naming them."""
    if origin not in ORIGINS:
        raise StoreError(
            f"Unknown conversation origin {origin!r}; one of {', '.join(ORIGINS)}.",
            hint="'app' is the web UI and 'seedchat chat', 'api' the HTTP API.",
        )
    return origin


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


def insert_conversation(conn: sqlite3.Connection, conv: Conversation) -> None:
    """Insert ``conv``'s row as it is (not its messages), inside the caller's write
    transaction (``Db.write``)."""
    values = []
    for col in CONVERSATION_COLUMNS:
        value = getattr(conv, col)
        if col == "settings":
            value = json.dumps(value, ensure_ascii=False)
        elif col == "title_is_auto":
            value = int(value)
        values.append(value)
    marks = ", ".join("?" for _ in CONVERSATION_COLUMNS)
    conn.execute(
        f"INSERT INTO conversations ({', '.join(CONVERSATION_COLUMNS)}) VALUES ({marks})", values
    )


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


# Each leaf's branch walked up to the root, ids and roles only (the text is not read),
# at most ``?`` steps: a longer branch shows as one whose root was not reached.
_WALK_UP = """
WITH RECURSIVE up(leaf, id, parent_id, role, depth) AS (
    SELECT id, id, parent_id, role, 0 FROM messages
    WHERE id IN (SELECT value FROM json_each(?))
    UNION ALL
    SELECT up.leaf, m.id, m.parent_id, m.role, up.depth + 1
    FROM up JOIN messages m ON m.id = up.parent_id
    WHERE up.depth < ?
)
SELECT leaf, id, parent_id, role, depth FROM up
"""


def branch_shapes(db: Db, leaves: Sequence[str], longest: int) -> dict[str, list[tuple[str, str]]]:
    """The branches that end at ``leaves``, each as (message id, role) pairs from the root,
    read without their text; a branch of more than ``longest`` messages is left out (and
    read no further than that)."""
    steps: dict[str, list[tuple[int, str, str | None, str]]] = {}
    for leaf, mid, parent, role, depth in db.read(_WALK_UP, [json.dumps(list(leaves)), longest]):
        steps.setdefault(leaf, []).append((depth, mid, parent, role))
    shapes = {}
    for leaf, walk in steps.items():
        walk.sort(reverse=True)  # the deepest step (the root, if it was reached) first
        if len(walk) <= longest and walk[0][2] is None:
            shapes[leaf] = [(mid, role) for _, mid, _, role in walk]
    return shapes


def message_texts(db: Db, ids: Sequence[str]) -> dict[str, str]:
    """The content of the messages ``ids`` (those that exist), by id."""
    rows = db.read(
        "SELECT id, content FROM messages WHERE id IN (SELECT value FROM json_each(?))",
        [json.dumps(list(ids))],
    )
    return dict(rows)


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
