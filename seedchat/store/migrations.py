"""The conversation database's schema, as numbered migrations applied on open.

Migrations are functions registered (by the :func:`migration` decorator) with sqlite-utils'
:class:`~sqlite_utils.migrations.Migrations` under the set name ``seedchat``; which ones a database has seen is recorded in its
``_sqlite_migrations`` table (the versions table). A migration is never edited once
released: a change to the schema is a new function appended at the end, and it must
keep every existing row.

- ``m001_conversations``: conversations and messages (the first released schema).
- ``m002_search``: FTS5 full-text indexes over titles, answers and thinking, with the
  trigram tokenizer (so Chinese text, which has no spaces, is searchable), kept in sync
  by triggers; existing rows are indexed.
- ``m003_trash``: ``conversations.deleted_at`` (delete moves to a trash that is purged
  later) and the indexes that listing and purging use.
- ``m004_origin``: ``conversations.origin``, where a conversation came from: ``'app'``
  (the web UI, ``seedchat chat``; every existing row) or ``'api'`` (the HTTP API), and
  the index that finds the recent conversations of one origin
  (``Store.find_continued``). The allowed values are checked by the code
  (``records.ORIGINS``), not by a CHECK constraint, so that a later origin needs no
  table rebuild.
- ``m005_attachments``: attached files (``attachments``: one row per distinct file, by
  its sha256: kind, size, text, PDF page offsets) and ``message_attachments`` (a message's
  files in order, each under the name it was attached with; deleted with the message);
  a trigger deletes a file when its last link goes; ``attachments_fts`` indexes the
  files' text for search (trigram, as ``m002_search``).
- ``m006_tools``: a tool turn's ``messages.tool_call_id`` and ``messages.tool_name``
  (the call of the answer before it that it answers, and the tool's name; NULL on
  every existing row and on every message that is not a tool turn). A tool turn's
  result is its ``content``, so the full-text index (``m002_search``) already finds it;
  the answer's calls stay in its ``tool_calls`` column. Existing rows keep every value.
- ``m007_sweeps``: the budget lab's sweeps (``sweeps``: the set's questions, the budgets,
  samples, settings and model, its state) and each reply's result (``sweep_runs``: one
  row per question, budget and sample, its primary key, so a resumed sweep never answers
  one twice; deleted with its sweep). No existing table changes.

:func:`open_database` opens a file for the store: it refuses one that is not seedchat's
(another program's database, or one written by a newer seedchat) before anything is
written, has :class:`~seedchat.store.db.Db` check its pages and switch it to WAL mode,
then applies the pending migrations. :func:`apply_migrations` runs inside the caller's
transaction; :func:`open_database` opens one with ``BEGIN IMMEDIATE`` (``Db.write``) so
that two processes opening a new database at the same moment do not both create it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from seedchat.errors import StoreError
from seedchat.store.db import Db
from seedchat.store.sqlite_utils_import import Database, Migrations

log = logging.getLogger(__name__)

MIGRATION_SET = "seedchat"
MIGRATIONS_TABLE = Migrations.migrations_table  # "_sqlite_migrations"

migrations = Migrations(MIGRATION_SET)
_NAMES: list[str] = []  # the registered migrations' names, in order


def migration(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    """Register ``fn`` as the next migration of the set (named after the function)."""
    _NAMES.append(fn.__name__)
    return migrations()(fn)


@migration
def m001_conversations(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE conversations (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL DEFAULT '',
            title_is_auto INTEGER NOT NULL DEFAULT 1,
            model TEXT,
            settings TEXT NOT NULL DEFAULT '{}',
            current_leaf TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            conversation_id TEXT NOT NULL
                REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id TEXT REFERENCES messages(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content TEXT NOT NULL DEFAULT '',
            thinking TEXT NOT NULL DEFAULT '',
            reflects TEXT NOT NULL DEFAULT '[]',
            thinking_tokens INTEGER,
            tool_calls TEXT NOT NULL DEFAULT '[]',
            notices TEXT NOT NULL DEFAULT '[]',
            stats TEXT NOT NULL DEFAULT '{}',
            finish_reason TEXT,
            status TEXT NOT NULL DEFAULT 'complete'
                CHECK (status IN ('complete', 'partial', 'cancelled', 'error')),
            error TEXT,
            settings TEXT NOT NULL DEFAULT '{}',
            model TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages(conversation_id, seq)")
    db.execute("CREATE INDEX messages_by_parent ON messages(parent_id)")


@migration
def m002_search(db: Database) -> None:
    db.execute(
        """
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, thinking, content='messages', content_rowid='seq', tokenize='trigram'
        )
        """
    )
    db.execute(
        """
        CREATE VIRTUAL TABLE conversations_fts USING fts5(
            title, content='conversations', content_rowid='seq', tokenize='trigram'
        )
        """
    )
    db.execute(
        """
        CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content, thinking)
            VALUES (new.seq, new.content, new.thinking);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content, thinking)
            VALUES ('delete', old.seq, old.content, old.thinking);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER messages_fts_au AFTER UPDATE OF content, thinking ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content, thinking)
            VALUES ('delete', old.seq, old.content, old.thinking);
            INSERT INTO messages_fts(rowid, content, thinking)
            VALUES (new.seq, new.content, new.thinking);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER conversations_fts_ai AFTER INSERT ON conversations BEGIN
            INSERT INTO conversations_fts(rowid, title) VALUES (new.seq, new.title);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER conversations_fts_ad AFTER DELETE ON conversations BEGIN
            INSERT INTO conversations_fts(conversations_fts, rowid, title)
            VALUES ('delete', old.seq, old.title);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER conversations_fts_au AFTER UPDATE OF title ON conversations BEGIN
            INSERT INTO conversations_fts(conversations_fts, rowid, title)
            VALUES ('delete', old.seq, old.title);
            INSERT INTO conversations_fts(rowid, title) VALUES (new.seq, new.title);
        END
        """
    )
    # Index what a version-1 database already holds.
    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    db.execute("INSERT INTO conversations_fts(conversations_fts) VALUES ('rebuild')")


@migration
def m003_trash(db: Database) -> None:
    db.execute("ALTER TABLE conversations ADD COLUMN deleted_at REAL")
    db.execute(
        "CREATE INDEX conversations_by_updated ON conversations(updated_at) "
        "WHERE deleted_at IS NULL"
    )
    db.execute(
        "CREATE INDEX conversations_by_deleted ON conversations(deleted_at) "
        "WHERE deleted_at IS NOT NULL"
    )


@migration
def m004_origin(db: Database) -> None:
    db.execute("ALTER TABLE conversations ADD COLUMN origin TEXT NOT NULL DEFAULT 'app'")
    db.execute(
        "CREATE INDEX conversations_by_origin ON conversations(origin, updated_at) "
        "WHERE deleted_at IS NULL"
    )


@migration
def m005_attachments(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE attachments (
            seq INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            size INTEGER NOT NULL,
            text TEXT NOT NULL,
            pages TEXT NOT NULL DEFAULT '[]'
        )
        """
    )
    db.execute(
        """
        CREATE TABLE message_attachments (
            message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            sha256 TEXT NOT NULL REFERENCES attachments(sha256),
            name TEXT NOT NULL,
            PRIMARY KEY (message_id, position)
        )
        """
    )
    db.execute("CREATE INDEX message_attachments_by_file ON message_attachments(sha256)")
    db.execute(
        """
        CREATE TRIGGER attachments_unused AFTER DELETE ON message_attachments
        WHEN NOT EXISTS (SELECT 1 FROM message_attachments WHERE sha256 = old.sha256)
        BEGIN
            DELETE FROM attachments WHERE sha256 = old.sha256;
        END
        """
    )
    db.execute(
        """
        CREATE VIRTUAL TABLE attachments_fts USING fts5(
            text, content='attachments', content_rowid='seq', tokenize='trigram'
        )
        """
    )
    db.execute(
        """
        CREATE TRIGGER attachments_fts_ai AFTER INSERT ON attachments BEGIN
            INSERT INTO attachments_fts(rowid, text) VALUES (new.seq, new.text);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER attachments_fts_ad AFTER DELETE ON attachments BEGIN
            INSERT INTO attachments_fts(attachments_fts, rowid, text)
            VALUES ('delete', old.seq, old.text);
        END
        """
    )


@migration
def m006_tools(db: Database) -> None:
    db.execute("ALTER TABLE messages ADD COLUMN tool_call_id TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN tool_name TEXT")


@migration
def m007_sweeps(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE sweeps (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            set_name TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            config TEXT NOT NULL DEFAULT '{}',
            questions TEXT NOT NULL DEFAULT '[]'
        )
        """
    )
    db.execute(
        """
        CREATE TABLE sweep_runs (
            sweep_id TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            question_id TEXT NOT NULL,
            budget INTEGER NOT NULL,
            sample INTEGER NOT NULL,
            correct INTEGER NOT NULL,
            thinking_tokens INTEGER NOT NULL,
            answer_tokens INTEGER NOT NULL,
            seconds REAL NOT NULL,
            cut INTEGER NOT NULL,
            answer TEXT NOT NULL,
            tokens_per_second REAL,
            created_at REAL NOT NULL,
            PRIMARY KEY (sweep_id, question_id, budget, sample)
        )
        """
    )
    db.execute("CREATE INDEX sweeps_by_time ON sweeps(updated_at)")


def known_names() -> list[str]:
    """The names of every migration this version of seedchat knows, in order."""
    return list(_NAMES)


def applied_names(conn: sqlite3.Connection) -> list[str]:
    """The migrations recorded in the database (empty when it has no versions table)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [MIGRATIONS_TABLE]
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(
        f"SELECT name FROM [{MIGRATIONS_TABLE}] WHERE migration_set = ? ORDER BY rowid",
        [MIGRATION_SET],
    ).fetchall()
    return [r[0] for r in rows]


def apply_migrations(db: Database, stop_before: str | None = None) -> list[str]:
    """Apply the pending migrations (all, or those before ``stop_before``); return their names."""
    before = set(applied_names(db.conn))
    migrations.apply(db, stop_before=stop_before)
    return [name for name in applied_names(db.conn) if name not in before]


# -- opening ---------------------------------------------------------------------


def open_database(path: Path) -> Db:
    """Open ``path`` as seedchat's conversation database, upgraded to this version's
    schema. A file of another program, of a newer seedchat or a damaged one raises
    :class:`StoreError` (:class:`~seedchat.store.db.DatabaseCorruptError`) unchanged."""
    db = Db(path)
    try:
        tables = db.tables()
        check_ours(db, tables)
        # Check before the first write: a damaged file must stay as it is.
        db.prepare_for_writes(check_pages=bool(tables))
        upgrade(db)
    except BaseException:
        db.close()
        raise
    return db


def check_ours(db: Db, tables: set[str]) -> None:
    """Raise StoreError unless ``db`` is new or seedchat's, and of a version this one knows."""
    try:
        applied = applied_names(db.conn)
    except sqlite3.OperationalError:  # a migrations table of another shape: not ours
        applied = []
    except sqlite3.DatabaseError as exc:
        raise db.error(exc) from exc
    # Ours only if seedchat's own migrations are recorded (another program may use
    # sqlite-utils' migrations table too).
    if tables and not applied:
        raise StoreError(
            f"{db.path} is an SQLite database of another program "
            f"(tables: {', '.join(sorted(tables)[:5])}); seedchat has not changed it.",
            hint="Move it away, or set SEEDCHAT_HOME to use another folder.",
        )
    unknown = [n for n in applied if n not in known_names()]
    if unknown:
        raise StoreError(
            f"The conversation database {db.path} was written by a newer seedchat "
            f"(schema step {unknown[-1]}); this version will not change it.",
            hint="Upgrade seedchat.",
        )


def upgrade(db: Db) -> list[str]:
    """Apply the pending migrations in one write transaction; their names."""
    with db.translated():
        if len(applied_names(db.conn)) >= len(known_names()):
            return []
        schema = Database(db.conn)
    with db.write():
        done = apply_migrations(schema)
    if done:
        log.info("database %s upgraded: %s", db.path, ", ".join(done))
    return done
