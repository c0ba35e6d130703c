"""Saved conversations: one SQLite file, hidden behind plain functions.

Open it with ``Store()`` (the database in seedchat's data directory) or
``Store(path)``. The file is in WAL mode with a busy timeout, so the UI and
``seedchat history`` can use it at the same time; every write is one
``BEGIN IMMEDIATE`` transaction. The schema upgrades itself on open
(:mod:`seedchat.store_migrations`).

Conversations hold messages that form a tree: each message has a ``parent_id``, a
regeneration is a sibling of the answer it replaces and an edit a sibling of the
question, and the conversation's ``current_leaf`` names the branch on screen.

Operations (all methods of :class:`Store`)::

    create_conversation(title=None, model=None, settings=None) -> Conversation
    list_conversations(limit=50, offset=0, trash=False) -> list[ConversationSummary]
    count_conversations(trash=False) -> int
    get_conversation(conversation_id) -> Conversation   # .messages: the active branch
    resolve_id(prefix) -> str                           # "3f2a9c1e" -> the full id
    add_message(conversation_id, role, content, parent_id=LEAF, **fields) -> Message
    message(message_id) / messages(conversation_id) / siblings(message_id)
    rename(conversation_id, title) / auto_title(conversation_id) -> str
    update_settings(conversation_id, settings)
    delete(conversation_id) / restore(conversation_id) / purge_trash() -> int
    record_stream(conversation_id, parent_id, settings=None) -> StreamRecorder
    regenerate(message_id, settings=None) -> StreamRecorder    # a sibling answer
    edit_message(message_id, content) -> Message              # a sibling question
    switch_branch(message_id) -> Conversation
    search(query, limit=20) -> list[SearchHit]                # seedchat.store_search
    check() -> str                                            # "ok" or the first problem

Deleted conversations stay in the trash for ``TRASH_SECONDS`` (30 days); opening the
store purges older ones.

Streaming (:mod:`seedchat.store_recorder`): the user's message is stored with
``add_message`` before generation starts; ``record_stream`` creates the assistant
message at once (status ``partial``) and returns a recorder whose ``on_event`` takes
the engine's events, a background thread flushes the text at most once a
``flush_interval`` (1 s), and a ``Done`` event (or ``finish``) stores the stats and
the final status. After a crash the partial message is in the database.

Export and import (JSON, lossless; Markdown, readable) live in
:mod:`seedchat.store_export`.

A file that is not a seedchat database is never written: a corrupt one raises
:class:`DatabaseCorruptError` (``move_aside`` renames it so a fresh one can start),
a foreign SQLite database or one from a newer seedchat raises :class:`StoreError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from seedchat.errors import StoreError
from seedchat.paths import get_paths
from seedchat.store_migrations import applied_names, apply_migrations, known_names
from seedchat.store_records import (
    CONVERSATION_COLUMNS,
    JSON_FIELDS,
    MESSAGE_COLUMNS,
    ROLES,
    STATUSES,
    TITLE_LENGTH,
    Conversation,
    ConversationSummary,
    Message,
    conversation_from_row,
    message_from_row,
    new_id,
    title_from_text,
)

if TYPE_CHECKING:
    from seedchat.store_recorder import StreamRecorder
    from seedchat.store_search import SearchHit

__all__ = [
    "CONVERSATION_COLUMNS",
    "LEAF",
    "MESSAGE_COLUMNS",
    "ROLES",
    "STATUSES",
    "TITLE_LENGTH",
    "TRASH_SECONDS",
    "Conversation",
    "ConversationSummary",
    "DatabaseCorruptError",
    "Message",
    "Store",
    "move_aside",
    "new_id",
    "title_from_text",
]

log = logging.getLogger(__name__)

#: How long a deleted conversation stays in the trash before it is purged.
TRASH_SECONDS = 30 * 24 * 3600
#: How long a writer waits for another process's write to finish.
BUSY_TIMEOUT_MS = 10_000
#: Databases up to this size get a full page check (PRAGMA quick_check) on open.
QUICK_CHECK_BYTES = 64 * 2**20
LEAF = "leaf"  # add_message's default parent: the end of the active branch


class DatabaseCorruptError(StoreError):
    """The database file is damaged or not a database; ``path`` can be moved aside."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"The conversation database {path} is damaged or not a database ({detail}). "
            "seedchat has not changed it.",
            hint=f"Run 'seedchat history move-aside' to rename it to {path.name}.corrupt-<time> "
            "and start a fresh database (the old file is kept for recovery).",
        )
        self.path = path


def move_aside(path: Path | None = None) -> Path:
    """Rename a damaged database (and its -wal/-shm files) to ``<name>.corrupt-<time>``."""
    path = Path(path or get_paths().database)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    try:
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        path.rename(target)
    except OSError as exc:
        raise StoreError(
            f"Cannot rename {path} to {target.name}: {exc.strerror or exc}",
            hint="Check the folder's permissions, or move the file yourself.",
        ) from exc
    log.warning("moved the database %s aside to %s", path, target)
    return target


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL mode (it stays so). Two processes opening a new database at
    once race for this switch, and SQLite answers the loser "locked" at once, without its
    busy timeout: wait and try again, up to that timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _translate(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc)
    low = text.lower()
    if "disk is full" in low or "database or disk is full" in low:
        return StoreError(
            f"The disk holding {path} is full: the last change was not saved "
            "(everything saved before it is intact).",
            hint="Free some disk space and try again.",
        )
    if "malformed" in low or "not a database" in low or "file is encrypted" in low:
        return DatabaseCorruptError(path, text)
    if "locked" in low or "busy" in low:
        return StoreError(
            f"The conversation database {path} stayed locked by another process: {text}",
            hint="Another seedchat may be writing a lot at once; try again.",
        )
    if "readonly" in low or "unable to open" in low:
        return StoreError(
            f"Cannot write the conversation database {path}: {text}",
            hint="Check the permissions of the file and its folder.",
        )
    return StoreError(f"The conversation database {path} failed: {text}")


class Store:
    """The conversation database. Safe to share between threads; one per process is enough."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else get_paths().ensure().database
        self.checked_on_open = False  # whether opening ran the full page check (check())
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"Cannot open the conversation database {self.path}: {exc}",
                hint="Check that its folder exists and is writable.",
            ) from exc
        self.conn = conn
        try:
            self._open()
        except BaseException:
            conn.close()
            raise
        self.db = Database(conn)
        try:
            purged = self.purge_trash()
        except StoreError as err:  # a full disk must not stop the store from opening
            log.warning("could not purge the trash: %s", err)
        else:
            if purged:
                log.info("purged %d conversations from the trash", purged)

    # -- opening ---------------------------------------------------------------

    def _open(self) -> None:
        conn = self.conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                )
            }
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc
        try:
            applied = applied_names(conn)
        except sqlite3.OperationalError:  # a migrations table of another shape: not ours
            applied = []
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc
        # Ours only if seedchat's own migrations are recorded (another program may use
        # sqlite-utils' migrations table too).
        if tables and not applied:
            raise StoreError(
                f"{self.path} is an SQLite database of another program "
                f"(tables: {', '.join(sorted(tables)[:5])}); seedchat has not changed it.",
                hint="Move it away, or set SEEDCHAT_HOME to use another folder.",
            )
        unknown = [n for n in applied if n not in known_names()]
        if unknown:
            raise StoreError(
                f"The conversation database {self.path} was written by a newer seedchat "
                f"(schema step {unknown[-1]}); this version will not change it.",
                hint="Upgrade seedchat.",
            )
        try:
            # Check before the first write: a damaged file must stay as it is.
            if tables and self._quick_check_needed():
                problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
                if problem != "ok":
                    raise DatabaseCorruptError(self.path, problem)
                self.checked_on_open = True
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if len(applied_names(conn)) < len(known_names()):
                db = Database(conn)
                with self._write():
                    done = apply_migrations(db)
                if done:
                    log.info("database %s upgraded: %s", self.path, ", ".join(done))
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    def _quick_check_needed(self) -> bool:
        # quick_check reads every page (~0.2 s for 220 MiB here): on open only up to
        # QUICK_CHECK_BYTES. For larger files Store.check() runs it on demand, and a
        # damaged page met later still raises DatabaseCorruptError, never a traceback.
        try:
            return self.path.stat().st_size <= QUICK_CHECK_BYTES
        except OSError:
            return True

    def check(self) -> str:
        """Run SQLite's integrity check over the whole file; "ok" or the first problem."""
        with self._lock:
            return self.conn.execute("PRAGMA quick_check(1)").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE); SQLite errors become StoreErrors."""
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise _translate(exc, self.path) from exc
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Any = ()) -> list[tuple]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    # -- conversations ---------------------------------------------------------

    def create_conversation(
        self,
        title: str | None = None,
        model: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Conversation:
        """A new, empty conversation. Without a title it is named from its first question."""
        now = time.time()
        conv = Conversation(
            id=new_id(),
            title=title or "",
            title_is_auto=not title,
            model=model,
            settings=dict(settings or {}),
            current_leaf=None,
            created_at=now,
            updated_at=now,
        )
        with self._write() as conn:
            conn.execute(
                "INSERT INTO conversations (id, title, title_is_auto, model, settings, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    conv.id,
                    conv.title,
                    int(conv.title_is_auto),
                    model,
                    json.dumps(conv.settings, ensure_ascii=False),
                    now,
                    now,
                ],
            )
        return conv

    def list_conversations(
        self, limit: int = 50, offset: int = 0, trash: bool = False
    ) -> list[ConversationSummary]:
        """One page of conversations, most recently updated first (``trash``: deleted ones)."""
        where = "deleted_at IS NOT NULL" if trash else "deleted_at IS NULL"
        order = "deleted_at DESC" if trash else "updated_at DESC"
        rows = self._read(
            f"SELECT id, title, model, created_at, updated_at, "
            f"(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id), deleted_at "
            f"FROM conversations c WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [limit, offset],
        )
        return [ConversationSummary(*r) for r in rows]

    def count_conversations(self, trash: bool = False) -> int:
        where = "deleted_at IS NOT NULL" if trash else "deleted_at IS NULL"
        return self._read(f"SELECT count(*) FROM conversations WHERE {where}")[0][0]

    def _conversation_row(self, conversation_id: str) -> Conversation:
        cols = ", ".join(CONVERSATION_COLUMNS)
        rows = self._read(f"SELECT {cols} FROM conversations WHERE id = ?", [conversation_id])
        if not rows:
            raise StoreError(
                f"There is no conversation with id {conversation_id}.",
                hint="'seedchat history list' shows the saved conversations.",
            )
        return conversation_from_row(rows[0])

    def get_conversation(self, conversation_id: str) -> Conversation:
        """A conversation with its active branch (root first) in ``messages``."""
        conv = self._conversation_row(conversation_id)
        conv.messages = self._branch(conv.id, conv.current_leaf) if conv.current_leaf else []
        return conv

    def resolve_id(self, prefix: str) -> str:
        """The conversation whose id starts with ``prefix`` (as the CLI shows 8 characters)."""
        prefix = prefix.strip().lower()
        if len(prefix) < 4 or not all(c in "0123456789abcdef" for c in prefix):
            raise StoreError(
                f"'{prefix}' is not a conversation id.",
                hint="Give at least the first 4 characters shown by 'seedchat history list'.",
            )
        rows = self._read(
            "SELECT id FROM conversations WHERE id >= ? AND id < ? LIMIT 2",
            [prefix, prefix + "g"],
        )
        if not rows:
            raise StoreError(
                f"There is no conversation with id {prefix}.",
                hint="'seedchat history list' shows the saved conversations.",
            )
        if len(rows) > 1:
            raise StoreError(
                f"More than one conversation id starts with {prefix}.",
                hint="Give more characters of the id.",
            )
        return rows[0][0]

    def rename(self, conversation_id: str, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise StoreError("A conversation's title cannot be empty.")
        self._update_conversation(conversation_id, title=title, title_is_auto=0)

    def auto_title(self, conversation_id: str) -> str:
        """Name a conversation after its first question (unless the user named it)."""
        conv = self._conversation_row(conversation_id)
        if not conv.title_is_auto:
            return conv.title
        rows = self._read(
            "SELECT content FROM messages WHERE conversation_id = ? AND role = 'user' "
            "ORDER BY seq LIMIT 1",
            [conversation_id],
        )
        title = title_from_text(rows[0][0]) if rows else ""
        if title and title != conv.title:
            self._update_conversation(conversation_id, title=title, touch=False)
        return title or conv.title

    def _update_conversation(self, conversation_id: str, touch: bool = True, **values: Any) -> None:
        if touch:
            values["updated_at"] = time.time()
        self._update_row("conversations", "conversation", conversation_id, values)

    def _update_row(self, table: str, what: str, row_id: str, values: dict[str, Any]) -> None:
        """Set ``values`` on one row of ``table`` (column names are checked by the callers)."""
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._write() as conn:
            cur = conn.execute(
                f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), row_id]
            )
            if cur.rowcount == 0:
                raise StoreError(f"There is no {what} with id {row_id}.")

    def update_settings(self, conversation_id: str, settings: dict[str, Any]) -> None:
        """Record the settings (budget, enforcement, sampling, system prompt) last used."""
        self._update_conversation(
            conversation_id, settings=json.dumps(settings, ensure_ascii=False), touch=False
        )

    def delete(self, conversation_id: str) -> None:
        """Move a conversation to the trash (``restore`` undoes it until it is purged)."""
        self._conversation_row(conversation_id)
        self._update_conversation(conversation_id, deleted_at=time.time(), touch=False)

    def restore(self, conversation_id: str) -> None:
        conv = self._conversation_row(conversation_id)
        if conv.deleted_at is None:
            raise StoreError(f"The conversation {conversation_id} is not in the trash.")
        self._update_conversation(conversation_id, deleted_at=None, touch=False)

    def purge_trash(self, older_than: float = TRASH_SECONDS, now: float | None = None) -> int:
        """Delete for good the conversations trashed more than ``older_than`` seconds ago."""
        cutoff = (now if now is not None else time.time()) - older_than
        due = self._read(
            "SELECT count(*) FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
            [cutoff],
        )[0][0]
        if not due:
            return 0
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
                [cutoff],
            )
            return cur.rowcount

    # -- messages --------------------------------------------------------------

    def _message_rows(self, where: str, params: Any) -> list[Message]:
        cols = ", ".join(MESSAGE_COLUMNS)
        rows = self._read(f"SELECT {cols} FROM messages WHERE {where}", params)
        return [message_from_row(r) for r in rows]

    def message(self, message_id: str) -> Message:
        found = self._message_rows("id = ?", [message_id])
        if not found:
            raise StoreError(f"There is no message with id {message_id}.")
        return found[0]

    def _branch(self, conversation_id: str, leaf_id: str) -> list[Message]:
        # The tree's shape (ids only) in one indexed read; then the branch's full rows.
        shape = self._read(
            "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY seq",
            [conversation_id],
        )
        parent_of = dict(shape)
        children: dict[str | None, list[str]] = {}
        for mid, parent in shape:
            children.setdefault(parent, []).append(mid)
        path: list[str] = []
        node: str | None = leaf_id
        while node is not None and node in parent_of and len(path) <= len(shape):
            path.append(node)
            node = parent_of[node]
        path.reverse()
        marks = ", ".join("?" for _ in path)
        found = {m.id: m for m in self._message_rows(f"id IN ({marks})", path)} if path else {}
        out = []
        for mid in path:
            msg = found[mid]
            group = children[msg.parent_id]
            msg.sibling_index, msg.sibling_count = group.index(mid), len(group)
            out.append(msg)
        return out

    def messages(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation, all branches, in the order they were written."""
        return self._message_rows("conversation_id = ? ORDER BY seq", [conversation_id])

    def siblings(self, message_id: str) -> list[Message]:
        """The message and its alternatives (same parent), oldest first."""
        msg = self.message(message_id)
        return self._message_rows(
            "conversation_id = ? AND +parent_id IS ? ORDER BY seq",  # + : by conversation
            [msg.conversation_id, msg.parent_id],
        )

    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        parent_id: str | None = LEAF,
        **fields: Any,
    ) -> Message:
        """Store one message under ``parent_id`` (default: the active branch's end) and make
        it the active leaf. Extra ``fields`` are Message fields (thinking, stats, status…)."""
        if role not in ROLES:
            raise StoreError(f"Unknown message role {role!r}; one of {', '.join(ROLES)}.")
        now = time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT current_leaf, title_is_auto, title FROM conversations WHERE id = ?",
                [conversation_id],
            ).fetchone()
            if row is None:
                raise StoreError(f"There is no conversation with id {conversation_id}.")
            if parent_id == LEAF:
                parent_id = row[0]
            msg = Message(
                id=new_id(),
                conversation_id=conversation_id,
                parent_id=parent_id,
                role=role,
                content=content,
                created_at=now,
                updated_at=now,
                **fields,
            )
            if msg.status not in STATUSES:
                raise StoreError(f"Unknown message status {msg.status!r}.")
            self._insert_message(conn, msg)
            title_sets = ""
            params: list[Any] = [msg.id, now]
            if role == "user" and row[1] and not row[2]:
                title_sets = ", title = ?"
                params.append(title_from_text(content))
            conn.execute(
                f"UPDATE conversations SET current_leaf = ?, updated_at = ?{title_sets} "
                "WHERE id = ?",
                [*params, conversation_id],
            )
        return msg

    @staticmethod
    def _insert_message(conn: sqlite3.Connection, msg: Message) -> None:
        values = []
        for col in MESSAGE_COLUMNS:
            value = getattr(msg, col)
            if col in JSON_FIELDS:
                value = json.dumps(value, ensure_ascii=False)
            values.append(value)
        marks = ", ".join("?" for _ in MESSAGE_COLUMNS)
        conn.execute(
            f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({marks})", values
        )

    def update_message(self, message_id: str, **values: Any) -> None:
        """Overwrite fields of a stored message (JSON fields are encoded here)."""
        for key in values:
            if key not in MESSAGE_COLUMNS or key in ("id", "conversation_id", "parent_id"):
                raise StoreError(f"Message field {key!r} cannot be updated.")
        encoded = {
            k: json.dumps(v, ensure_ascii=False) if k in JSON_FIELDS else v
            for k, v in values.items()
        }
        encoded.setdefault("updated_at", time.time())
        self._update_row("messages", "message", message_id, encoded)

    def edit_message(self, message_id: str, content: str) -> Message:
        """A new version of a message as its sibling (a new branch), made active."""
        old = self.message(message_id)
        return self.add_message(old.conversation_id, old.role, content, parent_id=old.parent_id)

    def switch_branch(self, message_id: str) -> Conversation:
        """Make the branch through ``message_id`` active, down to its newest leaf."""
        msg = self.message(message_id)
        leaf = message_id
        while True:
            rows = self._read(
                "SELECT id FROM messages WHERE parent_id = ? ORDER BY seq DESC LIMIT 1", [leaf]
            )
            if not rows:
                break
            leaf = rows[0][0]
        self._update_conversation(msg.conversation_id, current_leaf=leaf, touch=False)
        return self.get_conversation(msg.conversation_id)

    # -- streaming, search -----------------------------------------------------

    def record_stream(
        self,
        conversation_id: str,
        parent_id: str | None = LEAF,
        settings: dict[str, Any] | None = None,
        model: str | None = None,
        flush_interval: float = 1.0,
    ) -> StreamRecorder:
        """Start an assistant message under ``parent_id`` and return its recorder."""
        from seedchat.store_recorder import StreamRecorder

        msg = self.add_message(
            conversation_id,
            "assistant",
            "",
            parent_id=parent_id,
            status="partial",
            settings=dict(settings or {}),
            model=model,
        )
        if settings:
            self.update_settings(conversation_id, settings)
        return StreamRecorder(self, msg, flush_interval=flush_interval)

    def regenerate(
        self,
        message_id: str,
        settings: dict[str, Any] | None = None,
        model: str | None = None,
        flush_interval: float = 1.0,
    ) -> StreamRecorder:
        """A new answer beside the assistant message ``message_id`` (a sibling branch)."""
        old = self.message(message_id)
        if old.role != "assistant":
            raise StoreError("Only an answer can be regenerated.", hint="Edit a question instead.")
        return self.record_stream(
            old.conversation_id,
            old.parent_id,
            settings=settings if settings is not None else old.settings,
            model=model or old.model,
            flush_interval=flush_interval,
        )

    def search(
        self, query: str, limit: int = 20, highlight: tuple[str, str] = ("<mark>", "</mark>")
    ) -> list[SearchHit]:
        """Ranked full-text search over titles, answers and thinking (any language)."""
        from seedchat.store_search import search

        return search(self, query, limit=limit, highlight=highlight)
