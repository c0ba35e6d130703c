"""Saved conversations: the :class:`Store`, one SQLite file behind plain methods.

Open it with ``Store()`` (the database in seedchat's data directory) or
``Store(path)``. The file is in WAL mode with a busy timeout, so the UI and
``seedchat history`` can use it at the same time; every write is one
``BEGIN IMMEDIATE`` transaction (:class:`seedchat.store.db.Db`). The schema upgrades
itself on open (:mod:`seedchat.store.migrations`).

Conversations hold messages that form a tree: each message has a ``parent_id``, a
regeneration is a sibling of the answer it replaces and an edit a sibling of the
question, and the conversation's ``current_leaf`` names the branch on screen.

Operations (all methods of :class:`Store`)::

    create_conversation(title=None, model=None, settings=None, origin="app") -> Conversation
    list_conversations(limit=50, offset=0, trash=False) -> list[ConversationSummary]
    count_conversations(trash=False) -> int
    get_conversation(conversation_id) -> Conversation   # .messages: the active branch
    conversation(conversation_id) -> Conversation       # its row only, no messages
    conversation_ids(trash=False) -> list[str]          # oldest first
    resolve_id(prefix) -> str                           # "3f2a9c1e" -> the full id
    add_message(conversation_id, role, content, parent_id=LEAF, attachments=(), **fields)
    message(message_id) / messages(conversation_id) / siblings(message_id)
    rename(conversation_id, title)                     # the first question names it until then
    update_settings(conversation_id, settings)
    delete(conversation_id) / restore(conversation_id) / purge_trash() -> int
    record_stream(conversation_id, parent_id, settings=None) -> StreamRecorder
    regenerate(message_id, settings=None) -> StreamRecorder    # a sibling answer
    edit_message(message_id, content, attachments=None) -> StoredMessage  # a sibling
    switch_branch(message_id) -> Conversation
    find_continued(turns, origin="api", recent=50) -> (id, last message id, turns) | None
    search(query, limit=20) -> list[SearchHit]                # seedchat.store.search
    check() -> str                                            # "ok" or the first problem

A conversation's ``origin`` says where it came from: ``"app"`` (the web UI and
``seedchat chat``) or ``"api"`` (the HTTP API). An API client sends the whole
conversation with every request; ``find_continued`` finds the saved conversation such a
request continues (its active branch is a prefix of the request's turns), so that it is
extended instead of saved again.

Deleted conversations stay in the trash for ``TRASH_SECONDS`` (30 days); opening the
store purges older ones.

Streaming (:mod:`seedchat.store.recorder`): the user's message is stored with
``add_message`` before generation starts; ``record_stream`` creates the assistant
message at once (status ``partial``) and returns a recorder whose ``on_event`` takes
the engine's events, a background thread flushes the text at most once a
``flush_interval`` (1 s), and a ``Done`` event (or ``finish``) stores the stats and
the final status. After a crash the partial message is in the database.

Export and import (JSON, lossless; Markdown, readable) live in
:mod:`seedchat.store.export`.

A file that is not a seedchat database is never written: a corrupt one raises
:class:`~seedchat.store.db.DatabaseCorruptError` (``move_aside`` renames it so a fresh
one can start), a foreign SQLite database or one from a newer seedchat raises
:class:`StoreError`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedchat.documents.read import Document
from seedchat.errors import StoreError
from seedchat.paths import get_paths
from seedchat.store.attachments import fill_attachments, link_attachments
from seedchat.store.db import Db
from seedchat.store.migrations import open_database
from seedchat.store.recorder import StreamRecorder
from seedchat.store.records import (
    ROLES,
    STATUSES,
    Conversation,
    ConversationSummary,
    StoredMessage,
    branch_shapes,
    check_origin,
    insert_conversation,
    insert_message,
    message_texts,
    new_id,
    read_conversation,
    read_messages,
    summary_from_row,
    summary_select,
    title_from_text,
    update_conversation,
    update_message,
)
from seedchat.store.search import SearchHit, search

__all__ = ["LEAF", "TRASH_SECONDS", "Store"]

log = logging.getLogger(__name__)

#: How long a deleted conversation stays in the trash before it is purged.
TRASH_SECONDS = 30 * 24 * 3600
LEAF = "leaf"  # add_message's default parent: the end of the active branch


class Store:
    """The conversation database. Safe to share between threads; one per process is enough."""

    def __init__(self, path: Path | str | None = None) -> None:
        path = Path(path) if path is not None else get_paths().ensure().database
        self.db: Db = open_database(path)
        try:
            purged = self.purge_trash()
        except StoreError as err:  # a full disk must not stop the store from opening
            log.warning("could not purge the trash: %s", err)
        else:
            if purged:
                log.info("purged %d conversations from the trash", purged)

    @property
    def path(self) -> Path:
        return self.db.path

    @property
    def conn(self) -> sqlite3.Connection:
        """The SQLite connection (for tests and tools; the store's own code uses ``db``)."""
        return self.db.conn

    @property
    def checked_on_open(self) -> bool:
        """Whether opening ran the full page check (then ``check()`` need not run again)."""
        return self.db.checked_on_open

    def check(self) -> str:
        """Run SQLite's integrity check over the whole file; "ok" or the first problem."""
        return self.db.check()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- conversations ---------------------------------------------------------

    def create_conversation(
        self,
        title: str | None = None,
        model: str | None = None,
        settings: dict[str, Any] | None = None,
        origin: str = "app",
    ) -> Conversation:
        """A new, empty conversation. Without a title it is named from its first question.
        ``origin``: "app" (the web UI, ``seedchat chat``) or "api" (the HTTP API)."""
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
            origin=check_origin(origin),
        )
        with self.db.write() as conn:
            insert_conversation(conn, conv)
        return conv

    def list_conversations(
        self, limit: int = 50, offset: int = 0, trash: bool = False
    ) -> list[ConversationSummary]:
        """One page of conversations, most recently updated first (``trash``: deleted ones)."""
        where = "deleted_at IS NOT NULL" if trash else "deleted_at IS NULL"
        order = "deleted_at DESC" if trash else "updated_at DESC"
        rows = self.db.read(
            f"SELECT {summary_select()} FROM conversations c "
            f"WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [limit, offset],
        )
        return [summary_from_row(r) for r in rows]

    def count_conversations(self, trash: bool = False) -> int:
        where = "deleted_at IS NOT NULL" if trash else "deleted_at IS NULL"
        return self.db.read(f"SELECT count(*) FROM conversations WHERE {where}")[0][0]

    def conversation_ids(self, trash: bool = False) -> list[str]:
        """The ids of every conversation not in the trash (``trash``: of all), oldest first."""
        where = "" if trash else " WHERE deleted_at IS NULL"
        return [r[0] for r in self.db.read(f"SELECT id FROM conversations{where} ORDER BY seq")]

    def conversation(self, conversation_id: str) -> Conversation:
        """A conversation's own fields, without its messages (``messages`` is empty)."""
        return read_conversation(self.db, conversation_id)

    def get_conversation(self, conversation_id: str) -> Conversation:
        """A conversation with its active branch (root first) in ``messages``."""
        conv = self.conversation(conversation_id)
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
        rows = self.db.read(
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
        update_conversation(self.db, conversation_id, title=title, title_is_auto=0)

    def update_settings(self, conversation_id: str, settings: dict[str, Any]) -> None:
        """Record the settings (budget, enforcement, sampling, system prompt) last used."""
        update_conversation(
            self.db, conversation_id, settings=json.dumps(settings, ensure_ascii=False), touch=False
        )

    def delete(self, conversation_id: str) -> None:
        """Move a conversation to the trash (``restore`` undoes it until it is purged)."""
        self.conversation(conversation_id)
        update_conversation(self.db, conversation_id, deleted_at=time.time(), touch=False)

    def restore(self, conversation_id: str) -> None:
        conv = self.conversation(conversation_id)
        if conv.deleted_at is None:
            raise StoreError(f"The conversation {conversation_id} is not in the trash.")
        update_conversation(self.db, conversation_id, deleted_at=None, touch=False)

    def purge_trash(self, older_than: float = TRASH_SECONDS, now: float | None = None) -> int:
        """Delete for good the conversations trashed more than ``older_than`` seconds ago."""
        cutoff = (now if now is not None else time.time()) - older_than
        due = self.db.read(
            "SELECT count(*) FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
            [cutoff],
        )[0][0]
        if not due:
            return 0
        with self.db.write() as conn:
            cur = conn.execute(
                "DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
                [cutoff],
            )
            return cur.rowcount

    # -- messages --------------------------------------------------------------

    def message(self, message_id: str) -> StoredMessage:
        found = read_messages(self.db, "id = ?", [message_id])
        if not found:
            raise StoreError(f"There is no message with id {message_id}.")
        return fill_attachments(self.db, found)[0]

    def _branch(self, conversation_id: str, leaf_id: str) -> list[StoredMessage]:
        # The tree's shape (ids only) in one indexed read; then the branch's full rows.
        shape = self.db.read(
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
        found = {m.id: m for m in read_messages(self.db, f"id IN ({marks})", path)} if path else {}
        out = []
        for mid in path:
            msg = found[mid]
            group = children[msg.parent_id]
            msg.sibling_index, msg.sibling_count = group.index(mid), len(group)
            out.append(msg)
        return fill_attachments(self.db, out)

    def messages(self, conversation_id: str) -> list[StoredMessage]:
        """Every message of a conversation, all branches, in the order they were written."""
        found = read_messages(self.db, "conversation_id = ? ORDER BY seq", [conversation_id])
        return fill_attachments(self.db, found)

    def siblings(self, message_id: str) -> list[StoredMessage]:
        """The message and its alternatives (same parent), oldest first."""
        msg = self.message(message_id)
        return read_messages(
            self.db,
            "conversation_id = ? AND +parent_id IS ? ORDER BY seq",  # + : by conversation
            [msg.conversation_id, msg.parent_id],
        )

    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        parent_id: str | None = LEAF,
        attachments: Sequence[Document] = (),
        **fields: Any,
    ) -> StoredMessage:
        """Store one message under ``parent_id`` (default: the active branch's end) and make
        it the active leaf. Extra ``fields`` are StoredMessage fields (thinking, stats, status…);
        ``attachments``: a question's files (each stored once by its hash)."""
        if role not in ROLES:
            raise StoreError(f"Unknown message role {role!r}; one of {', '.join(ROLES)}.")
        now = time.time()
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT current_leaf, title_is_auto, title FROM conversations WHERE id = ?",
                [conversation_id],
            ).fetchone()
            if row is None:
                raise StoreError(f"There is no conversation with id {conversation_id}.")
            if parent_id == LEAF:
                parent_id = row[0]
            msg = StoredMessage(
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
            insert_message(conn, msg)
            link_attachments(conn, msg.id, attachments)
            msg.attachments = list(attachments)
            _make_leaf(conn, msg, untitled=bool(row[1] and not row[2]))
        return msg

    def update_message(self, message_id: str, **values: Any) -> None:
        """Overwrite fields of a stored message (JSON fields are encoded here)."""
        update_message(self.db, message_id, **values)

    def edit_message(
        self, message_id: str, content: str, attachments: Sequence[Document] | None = None
    ) -> StoredMessage:
        """A new version of a message as its sibling (a new branch), made active; it keeps
        the old one's attachments unless ``attachments`` is given."""
        old = self.message(message_id)
        files = old.attachments if attachments is None else attachments
        return self.add_message(
            old.conversation_id, old.role, content, parent_id=old.parent_id, attachments=files
        )

    def switch_branch(self, message_id: str) -> Conversation:
        """Make the branch through ``message_id`` active, down to its newest leaf."""
        msg = self.message(message_id)
        leaf = message_id
        while True:
            rows = self.db.read(
                "SELECT id FROM messages WHERE parent_id = ? ORDER BY seq DESC LIMIT 1", [leaf]
            )
            if not rows:
                break
            leaf = rows[0][0]
        update_conversation(self.db, msg.conversation_id, current_leaf=leaf, touch=False)
        return self.get_conversation(msg.conversation_id)

    # -- continuing a conversation sent whole -------------------------------------

    def find_continued(
        self, turns: Sequence[tuple[str, str]], origin: str = "api", recent: int = 50
    ) -> tuple[str, str, int] | None:
        """The saved conversation that a request sending the whole conversation ``turns``
        ((role, content) pairs, oldest first) continues: among the ``recent`` most
        recently updated conversations of ``origin`` not in the trash, the one whose
        active branch, as (role, content) pairs, is the longest prefix of ``turns`` (of
        equally long ones, the most recent). Returns (its id, the id of its branch's last
        message, the number of turns matched), or None. Content is compared exactly as
        stored: the caller normalises it.

        It reads the branches' shape (ids and roles, walked up from each leaf no further
        than ``len(turns)`` messages) without their text in one query; then the last
        message of each branch whose roles fit, in one query (it tells most apart);
        then the rest of a branch only when its last message matched.
        """
        check_origin(origin)
        turns = list(turns)
        if not turns or recent < 1:
            return None
        fitting = self._fitting_branches(turns, origin, recent)
        last = message_texts(self.db, [ids[-1] for _, ids in fitting]) if fitting else {}
        for conv_id, ids in fitting:
            if last.get(ids[-1]) == turns[len(ids) - 1][1] and self._texts_match(ids[:-1], turns):
                return conv_id, ids[-1], len(ids)
        return None

    def _fitting_branches(
        self, turns: list[tuple[str, str]], origin: str, recent: int
    ) -> list[tuple[str, list[str]]]:
        """(conversation id, its branch's message ids) of the recent conversations whose
        active branch has no more messages than ``turns`` and the same roles, longest
        first, then most recent first."""
        recent_rows = self.db.read(
            "SELECT id, current_leaf FROM conversations WHERE origin = ? AND deleted_at IS NULL "
            "AND current_leaf IS NOT NULL ORDER BY updated_at DESC LIMIT ?",
            [origin, recent],
        )
        shapes = branch_shapes(self.db, [leaf for _, leaf in recent_rows], len(turns))
        roles = [role for role, _ in turns]
        fitting = []
        for conv_id, leaf in recent_rows:
            branch = shapes.get(leaf)
            if branch and [role for _, role in branch] == roles[: len(branch)]:
                fitting.append((conv_id, [mid for mid, _ in branch]))
        fitting.sort(key=lambda found: -len(found[1]))  # stable: the newest first among equals
        return fitting

    def _texts_match(self, ids: list[str], turns: list[tuple[str, str]]) -> bool:
        """Whether the messages ``ids`` hold the texts of the first ``len(ids)`` turns."""
        if not ids:
            return True
        texts = message_texts(self.db, ids)
        return len(texts) == len(ids) and all(
            texts[mid] == turns[i][1] for i, mid in enumerate(ids)
        )

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
        return StreamRecorder(self.db, msg, flush_interval=flush_interval)

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
        return search(self.db, query, limit=limit, highlight=highlight)


def _make_leaf(conn: sqlite3.Connection, msg: StoredMessage, untitled: bool) -> None:
    """Make the new ``msg`` its conversation's active leaf and touch the conversation; a
    question in a conversation ``untitled`` so far also names it."""
    title_sets = ""
    params: list[Any] = [msg.id, msg.created_at]
    if msg.role == "user" and untitled:
        title_sets = ", title = ?"
        params.append(title_from_text(msg.content))
    conn.execute(
        f"UPDATE conversations SET current_leaf = ?, updated_at = ?{title_sets} WHERE id = ?",
        [*params, msg.conversation_id],
    )
