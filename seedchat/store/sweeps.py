"""The budget lab's sweeps in the store: each sweep (its set, budgets, settings and model)
and each reply's result, written as it comes so a stopped sweep resumes where it stopped.

A result's key is (sweep, question, budget, sample): :meth:`Sweeps.add_run` refuses a
second one (:class:`~seedchat.errors.StoreError`), so no question is answered twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Any

from seedchat.errors import StoreError
from seedchat.store.db import Db
from seedchat.store.records import new_id

STATES = ("running", "stopped", "done")
RUN_FIELDS = (
    "question_id",
    "budget",
    "sample",
    "correct",
    "thinking_tokens",
    "answer_tokens",
    "seconds",
    "cut",
    "answer",
    "tokens_per_second",
)


@dataclass(frozen=True)
class SweepRun:
    """One reply of a sweep and how it went."""

    question_id: str
    budget: int
    sample: int
    correct: bool
    thinking_tokens: int
    answer_tokens: int
    seconds: float
    cut: bool
    answer: str
    tokens_per_second: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SweepRecord:
    """A saved sweep: ``config`` holds its budgets, samples, enforcement and settings,
    ``questions`` the set's questions as they were asked."""

    id: str
    created_at: float
    updated_at: float
    set_name: str
    model: str | None
    status: str
    config: dict[str, Any]
    questions: list[dict[str, Any]]
    done: int = 0  # results saved so far


class Sweeps:
    """The sweeps of one database (a :class:`~seedchat.store.db.Db`)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def create(
        self,
        set_name: str,
        model: str | None,
        config: dict[str, Any],
        questions: list[dict[str, Any]],
    ) -> SweepRecord:
        now = time.time()
        sid = new_id()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO sweeps (id, created_at, updated_at, set_name, model, status, "
                "config, questions) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                [sid, now, now, set_name, model, json.dumps(config), json.dumps(questions)],
            )
        return self.get(sid)

    def add_run(self, sweep_id: str, run: SweepRun) -> None:
        """Save one result; StoreError if that reply was already saved."""
        values = [getattr(run, name) for name in RUN_FIELDS]
        try:
            with self.db.write() as conn:
                conn.execute(
                    f"INSERT INTO sweep_runs (sweep_id, {', '.join(RUN_FIELDS)}, created_at) "
                    f"VALUES (?, {', '.join('?' * len(RUN_FIELDS))}, ?)",
                    [sweep_id, *values, time.time()],
                )
                conn.execute(
                    "UPDATE sweeps SET updated_at = ? WHERE id = ?", [time.time(), sweep_id]
                )
        except StoreError as err:
            if isinstance(err.__cause__, sqlite3.IntegrityError):
                raise StoreError(
                    f"Sweep {sweep_id[:8]} already has the reply to {run.question_id} at "
                    f"budget {run.budget} (sample {run.sample}).",
                    hint="Resume the sweep instead of answering again.",
                ) from err
            raise

    def runs(self, sweep_id: str) -> list[SweepRun]:
        rows = self.db.read(
            f"SELECT {', '.join(RUN_FIELDS)} FROM sweep_runs WHERE sweep_id = ? ORDER BY rowid",
            [sweep_id],
        )
        return [_run(row) for row in rows]

    def set_status(self, sweep_id: str, status: str) -> None:
        if status not in STATES:
            raise ValueError(status)
        with self.db.write() as conn:
            conn.execute(
                "UPDATE sweeps SET status = ?, updated_at = ? WHERE id = ?",
                [status, time.time(), sweep_id],
            )

    def get(self, sweep_id: str) -> SweepRecord:
        rows = self.db.read(f"{_SELECT} WHERE s.id = ? GROUP BY s.id", [sweep_id])
        if not rows:
            raise StoreError(
                f"There is no sweep {sweep_id}.", hint="List them with 'seedchat sweep --list'."
            )
        return _record(rows[0])

    def resolve(self, prefix: str) -> str:
        """The id of the sweep whose id starts with ``prefix``."""
        rows = self.db.read("SELECT id FROM sweeps WHERE id LIKE ? || '%'", [prefix])
        if len(rows) != 1:
            what = "no sweep" if not rows else f"{len(rows)} sweeps"
            raise StoreError(f"{what} with an id starting {prefix!r}.", hint="Give more of the id.")
        return rows[0][0]

    def latest_unfinished(self, set_name: str | None = None) -> SweepRecord | None:
        """The sweep stopped or crashed most recently (of ``set_name``, if given)."""
        where = "WHERE s.status != 'done'" + (" AND s.set_name = ?" if set_name else "")
        rows = self.db.read(
            f"{_SELECT} {where} GROUP BY s.id ORDER BY s.updated_at DESC LIMIT 1",
            [set_name] if set_name else [],
        )
        return _record(rows[0]) if rows else None

    def list(self, limit: int = 50) -> list[SweepRecord]:
        rows = self.db.read(f"{_SELECT} GROUP BY s.id ORDER BY s.created_at DESC LIMIT ?", [limit])
        return [_record(r) for r in rows]

    def delete(self, sweep_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM sweeps WHERE id = ?", [sweep_id])


_SELECT = (
    "SELECT s.id, s.created_at, s.updated_at, s.set_name, s.model, s.status, s.config, "
    "s.questions, COUNT(r.sweep_id) FROM sweeps s "
    "LEFT JOIN sweep_runs r ON r.sweep_id = s.id"
)


def _record(row: tuple) -> SweepRecord:
    sid, created, updated, name, model, status, config, questions, done = row
    return SweepRecord(
        sid, created, updated, name, model, status, json.loads(config), json.loads(questions), done
    )


def _run(row: tuple) -> SweepRun:
    data = dict(zip(RUN_FIELDS, row, strict=True))
    data["correct"], data["cut"] = bool(data["correct"]), bool(data["cut"])
    return SweepRun(**data)
