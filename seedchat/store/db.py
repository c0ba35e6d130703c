"""The connection to the conversation database: opening, transactions, errors.

:class:`Db` wraps one ``sqlite3`` connection shared by the threads of a process. It
knows nothing of conversations: it opens the file with a busy timeout, switches it to
WAL mode (so the UI and ``seedchat history`` can use it at once), runs every write as
one ``BEGIN IMMEDIATE`` transaction (:meth:`Db.write`) and every read under the same
lock (:meth:`Db.read`), and turns SQLite's errors into errors a user can act on
(:class:`StoreError`, :meth:`Db.error`).

Opening does not write: a file is first checked (:meth:`Db.tables`, then
:meth:`Db.prepare_for_writes` runs ``PRAGMA quick_check`` on files up to
``QUICK_CHECK_BYTES``) so that a damaged one raises :class:`DatabaseCorruptError` and
stays exactly as it was; :func:`move_aside` renames it so a fresh one can start.
Checking that the file is seedchat's and upgrading its schema is
:mod:`seedchat.store.migrations`' part (:func:`~seedchat.store.migrations.open_database`).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seedchat.errors import StoreError
from seedchat.paths import get_paths

__all__ = [
    "BUSY_TIMEOUT_MS",
    "QUICK_CHECK_BYTES",
    "DatabaseCorruptError",
    "Db",
    "move_aside",
    "translate_error",
]

log = logging.getLogger(__name__)

#: How long a writer waits for another process's write to finish.
BUSY_TIMEOUT_MS = 10_000
#: Databases up to this size get a full page check (PRAGMA quick_check) on open.
QUICK_CHECK_BYTES = 64 * 2**20


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
    target = _free_name(path, time.strftime("%Y%m%d-%H%M%S"))
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


def _free_name(path: Path, stamp: str) -> Path:
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    return target


def translate_error(exc: sqlite3.Error, path: Path) -> StoreError:
    """The :class:`StoreError` (or :class:`DatabaseCorruptError`) that says what ``exc``
    means for the database at ``path`` and what to do."""
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


def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(
            f"Cannot open the conversation database {path}: {exc}",
            hint="Check that its folder exists and is writable.",
        ) from exc


class Db:
    """One SQLite connection, safe to share between threads (see the module doc).

    ``Db(path)`` connects and sets the busy timeout; it writes nothing. Call
    :meth:`prepare_for_writes` before the first write.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.checked_on_open = False  # whether opening ran the full page check (check())
        self._lock = threading.RLock()
        self.conn = _connect(self.path)
        try:
            with self.translated():
                self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except BaseException:
            self.conn.close()
            raise

    # -- errors ----------------------------------------------------------------

    def error(self, exc: sqlite3.Error) -> StoreError:
        """``exc`` as the StoreError a user can act on (see :func:`translate_error`)."""
        return translate_error(exc, self.path)

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """Raise the SQLite errors of the block as StoreErrors."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self.error(exc) from exc

    # -- opening ---------------------------------------------------------------

    def tables(self) -> set[str]:
        """The names of the file's tables and views (empty for a new file)."""
        return {
            r[0]
            for r in self.read("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        }

    def prepare_for_writes(self, check_pages: bool = True) -> None:
        """Check the pages of a small file (``check_pages``; a damaged file raises
        :class:`DatabaseCorruptError` before anything is written), then switch to WAL
        mode, full synchronous writes and foreign keys."""
        with self._lock, self.translated():
            if check_pages and self._quick_check_needed():
                problem = self.conn.execute("PRAGMA quick_check(1)").fetchone()[0]
                if problem != "ok":
                    raise DatabaseCorruptError(self.path, problem)
                self.checked_on_open = True
            _use_wal(self.conn)
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA foreign_keys = ON")

    def _quick_check_needed(self) -> bool:
        # quick_check reads every page (~0.2 s for 220 MiB here): on open only up to
        # QUICK_CHECK_BYTES. For larger files Db.check() runs it on demand, and a
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

    # -- reading and writing ---------------------------------------------------

    def read(self, sql: str, params: Any = ()) -> list[tuple]:
        """The rows of one query; SQLite errors become StoreErrors."""
        with self._lock, self.translated():
            return self.conn.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE) on the connection it yields: committed
        at the end of the block, rolled back if it raises; SQLite errors become
        StoreErrors."""
        with self._lock:
            conn = self.conn
            with self.translated():
                conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self.error(exc) from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
