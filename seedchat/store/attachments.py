"""Attached files in the store: each kept once by its content's hash, linked to messages.

``attachments`` holds one row per distinct file (its sha256, kind, size, text and PDF page
offsets); ``message_attachments`` links a message to its files, in order, each under the
name it was attached with (the same bytes attached as ``a.txt`` and ``b.txt`` are one row
of ``attachments`` and two links). The links go with their message (``ON DELETE
CASCADE``), and a trigger deletes a file no link uses any more: purging a conversation
deletes the files only it used (:mod:`seedchat.store.migrations`, ``m005_attachments``).

These functions run over a :class:`~seedchat.store.db.Db` (reads) or inside the caller's
write transaction (``link_attachments``), so the store, import and export share them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from seedchat.documents.read import Document
from seedchat.store.db import Db
from seedchat.store.records import StoredMessage

#: An attachment's fields in the JSON export (the text whole: export/import is lossless).
ATTACHMENT_FIELDS = ("name", "kind", "size", "sha256", "pages", "text")


def link_attachments(
    conn: sqlite3.Connection, message_id: str, documents: Sequence[Document]
) -> None:
    """Store ``documents`` (each once by hash) and link them, in order, to ``message_id``."""
    for position, doc in enumerate(documents):
        conn.execute(
            "INSERT OR IGNORE INTO attachments (sha256, kind, size, text, pages) "
            "VALUES (?, ?, ?, ?, ?)",
            [doc.sha256, doc.kind, doc.size, doc.text, json.dumps(list(doc.pages))],
        )
        conn.execute(
            "INSERT INTO message_attachments (message_id, position, sha256, name) "
            "VALUES (?, ?, ?, ?)",
            [message_id, position, doc.sha256, doc.name],
        )


def fill_attachments(db: Db, messages: Sequence[StoredMessage]) -> list[StoredMessage]:
    """``messages`` with their ``attachments`` read (one query for all of them)."""
    ids = [m.id for m in messages if m.role == "user"]
    if not ids:
        return list(messages)
    rows = db.read(
        """
        SELECT l.message_id, l.name, a.kind, a.text, a.size, a.sha256, a.pages
        FROM message_attachments l JOIN attachments a ON a.sha256 = l.sha256
        WHERE l.message_id IN (SELECT value FROM json_each(?))
        ORDER BY l.message_id, l.position
        """,
        [json.dumps(ids)],
    )
    by_message: dict[str, list[Document]] = {}
    for mid, name, kind, text, size, sha, pages in rows:
        doc = Document(name, kind, text, size, sha, tuple(json.loads(pages or "[]")))
        by_message.setdefault(mid, []).append(doc)
    for msg in messages:
        msg.attachments = by_message.get(msg.id, [])
    return list(messages)


def attachment_to_dict(doc: Document) -> dict[str, Any]:
    """One attachment as the JSON export writes it."""
    return {
        "name": doc.name,
        "kind": doc.kind,
        "size": doc.size,
        "sha256": doc.sha256,
        "pages": list(doc.pages),
        "text": doc.text,
    }


def attachment_from_dict(data: dict[str, Any]) -> Document:
    """An exported attachment back (the caller has checked its fields' types)."""
    return Document(
        data["name"],
        data["kind"],
        data["text"],
        int(data["size"]),
        data["sha256"],
        tuple(int(p) for p in data.get("pages", [])),
    )


def stored_attachment_count(db: Db) -> int:
    """How many distinct files the store holds."""
    return db.read("SELECT count(*) FROM attachments")[0][0]
