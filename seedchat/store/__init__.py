"""Saved conversations: one SQLite file, hidden behind plain functions.

``Store()`` opens the database in seedchat's data directory (``Store(path)`` another
file); its methods list, read, write, search and trash conversations, and
``record_stream`` saves an answer as it streams. The modules, each importing only
those before it::

    db.py             Db: the connection, WAL, transactions, SQLite errors → StoreError
    records.py        the dataclasses (Conversation, StoredMessage…) and row read/writes
    migrations.py     the schema as numbered migrations; open_database() checks, upgrades
    recorder.py       StreamRecorder: one streamed answer, flushed in the background
    search.py         full-text search (FTS5, trigram)
    conversations.py  Store: conversations, messages, branches, trash, settings
    export.py         JSON (lossless) and Markdown export, JSON import
    sweeps.py         the budget lab's sweeps and their results

The names below are the package's public API; import them from ``seedchat.store``.
"""

from __future__ import annotations

from seedchat.store.conversations import LEAF, TRASH_SECONDS, Store
from seedchat.store.db import DatabaseCorruptError, Db, move_aside
from seedchat.store.export import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    ImportResult,
    conversation_markdown,
    conversation_to_dict,
    export_json,
    export_markdown,
    import_json,
    write_export,
)
from seedchat.store.recorder import StreamRecorder, status_for
from seedchat.store.records import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    ORIGINS,
    ROLES,
    STATUSES,
    TITLE_LENGTH,
    Conversation,
    ConversationSummary,
    StoredMessage,
    new_id,
    title_from_text,
)
from seedchat.store.search import SearchHit
from seedchat.store.sweeps import SweepRecord, SweepRun, Sweeps

__all__ = [
    "CONVERSATION_COLUMNS",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "LEAF",
    "MESSAGE_COLUMNS",
    "ORIGINS",
    "ROLES",
    "STATUSES",
    "TITLE_LENGTH",
    "TRASH_SECONDS",
    "Conversation",
    "ConversationSummary",
    "DatabaseCorruptError",
    "Db",
    "ImportResult",
    "SearchHit",
    "Store",
    "StoredMessage",
    "StreamRecorder",
    "SweepRecord",
    "SweepRun",
    "Sweeps",
    "conversation_markdown",
    "conversation_to_dict",
    "export_json",
    "export_markdown",
    "import_json",
    "move_aside",
    "new_id",
    "status_for",
    "title_from_text",
    "write_export",
]
