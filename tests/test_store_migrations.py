"""Schema upgrades, and the bad states: foreign, corrupt, newer, full disk."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlite_utils import Database

from seedchat.documents.read import read_document
from seedchat.errors import StoreError
from seedchat.events import AnswerDelta, Done
from seedchat.store import DatabaseCorruptError, Store, move_aside
from seedchat.store.migrations import MIGRATIONS_TABLE, apply_migrations, known_names

# The first released schema (m001_conversations), frozen here as it shipped: if the
# migration function were edited, test_v1_fixture_matches_first_migration would fail.
V1_SCHEMA = """
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
);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
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
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, seq);
CREATE INDEX messages_by_parent ON messages(parent_id);
CREATE TABLE [_sqlite_migrations] (
   [id] INTEGER PRIMARY KEY,
   [migration_set] TEXT,
   [name] TEXT,
   [applied_at] TEXT
);
CREATE UNIQUE INDEX [idx__sqlite_migrations_migration_set_name]
    ON [_sqlite_migrations] ([migration_set], [name]);
INSERT INTO _sqlite_migrations (migration_set, name, applied_at)
    VALUES ('seedchat', 'm001_conversations', '2026-01-01 00:00:00+00:00');
"""

N_CONVERSATIONS = 30


def build_v1_database(path: Path) -> None:
    """A database as seedchat's first schema wrote it, with conversations in it."""
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    t = 1_700_000_000.0
    for i in range(N_CONVERSATIONS):
        cid = f"{i:032x}"
        conn.execute(
            "INSERT INTO conversations (id, title, title_is_auto, model, settings, current_leaf,"
            " created_at, updated_at) VALUES (?, ?, 0, 'seed.gguf', ?, ?, ?, ?)",
            [
                cid,
                f"Old chat {i} 旧对话",
                json.dumps({"thinking_budget": 512}),
                f"a{i:031x}",
                t + i,
                t + i,
            ],
        )
        conn.execute(
            "INSERT INTO messages (id, conversation_id, parent_id, role, content, created_at,"
            " updated_at) VALUES (?, ?, NULL, 'user', ?, ?, ?)",
            [f"u{i:031x}", cid, f"question {i} about penguins", t + i, t + i],
        )
        conn.execute(
            "INSERT INTO messages (id, conversation_id, parent_id, role, content, thinking,"
            " reflects, thinking_tokens, stats, finish_reason, status, created_at, updated_at)"
            " VALUES (?, ?, ?, 'assistant', ?, ?, ?, 42, ?, 'stop', ?, ?, ?)",
            [
                f"a{i:031x}",
                cid,
                f"u{i:031x}",
                f"答案 {i}：企鹅住在南极。",
                "thinking about penguins",
                json.dumps(
                    [
                        {
                            "used": 10,
                            "remaining": 502,
                            "exhausted": False,
                            "raw": "r",
                            "true_count": 11,
                            "injected": False,
                        }
                    ]
                ),
                json.dumps({"generated_tokens": 50, "tokens_per_second": 12.5}),
                "partial" if i == 0 else "complete",
                t + i,
                t + i,
            ],
        )
    conn.commit()
    conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_v1_fixture_matches_first_migration(tmp_path: Path):
    fixture = tmp_path / "fixture.db"
    build_v1_database(fixture)
    made = Database(tmp_path / "made.db")
    apply_migrations(made, stop_before=known_names()[1])

    def schema(conn: sqlite3.Connection) -> dict:
        out = {}
        for name in ("conversations", "messages"):
            out[name] = conn.execute(f"PRAGMA table_xinfo({name})").fetchall()
            out[name + ".fk"] = conn.execute(f"PRAGMA foreign_key_list({name})").fetchall()
        out["indexes"] = sorted(
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        )
        return out

    assert schema(sqlite3.connect(fixture)) == schema(made.conn)


def test_upgrade_from_first_schema_keeps_every_row(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    build_v1_database(path)
    with Store(path) as store:
        names = [r[0] for r in store.conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")]
        assert names == known_names()
        assert store.count_conversations() == N_CONVERSATIONS
        assert (
            store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2 * N_CONVERSATIONS
        )
        conv = store.get_conversation(f"{7:032x}")
        assert conv.title == "Old chat 7 旧对话" and conv.settings == {"thinking_budget": 512}
        assert [m.role for m in conv.messages] == ["user", "assistant"]
        answer = conv.messages[1]
        assert answer.content == "答案 7：企鹅住在南极。"
        assert answer.thinking_tokens == 42 and answer.reflects[0]["true_count"] == 11
        assert answer.stats == {"generated_tokens": 50, "tokens_per_second": 12.5}
        assert store.message(f"a{0:031x}").status == "partial"
        assert {c.origin for c in store.list_conversations(limit=100)} == {"app"}  # m004
        # New features work on the old rows: search (m002) and trash (m003).
        assert len(store.search("penguins", limit=100)) == 2 * N_CONVERSATIONS
        assert {h.conversation_id for h in store.search("企鹅住在", limit=100)} == {
            f"{i:032x}" for i in range(N_CONVERSATIONS)
        }
        store.delete(conv.id)
        assert store.count_conversations() == N_CONVERSATIONS - 1
        # The newest old conversation is listed first.
        assert store.list_conversations(limit=1)[0].id == f"{N_CONVERSATIONS - 1:032x}"
    with Store(path) as store:  # opening again applies nothing more
        assert store.count_conversations(trash=True) == 1


def build_v3_database(path: Path) -> None:
    """A database at the schema before origins (m001–m003, as released), with
    conversations written by that seedchat: one in the trash, one without messages."""
    made = Database(path)
    apply_migrations(made, stop_before="m004_origin")
    made.close()
    build_rows = sqlite3.connect(path)
    t, trashed = 1_700_000_000.0, time.time() - 60  # trashed a minute ago: not purged yet
    for i in range(N_CONVERSATIONS):
        cid, q, a = f"{i:032x}", f"q{i:031x}", f"a{i:031x}"
        build_rows.execute(
            "INSERT INTO conversations (id, title, title_is_auto, model, settings, current_leaf,"
            " created_at, updated_at, deleted_at) VALUES (?, ?, 0, 'seed.gguf', '{}', ?, ?, ?, ?)",
            [cid, f"Chat {i}", None if i == 1 else a, t + i, t + i, trashed if i == 2 else None],
        )
        if i == 1:
            continue
        for mid, parent, role, text in ((q, None, "user", f"hello {i}"), (a, q, "assistant", "hi")):
            build_rows.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [mid, cid, parent, role, text, t + i, t + i],
            )
    build_rows.commit()
    build_rows.close()


def test_upgrade_from_the_schema_before_origins(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    build_v3_database(path)
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(conversations)")]
    conn.close()
    assert "origin" not in columns and "deleted_at" in columns
    with Store(path) as store:
        applied = [r[0] for r in store.conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")]
        assert applied == known_names() and "m004_origin" in applied
        info = {r[1]: r for r in store.conn.execute("PRAGMA table_info(conversations)")}
        assert info["origin"][2:5] == ("TEXT", 1, "'app'")  # type, NOT NULL, default
        # Every row is kept, and every old conversation is the app's.
        assert store.count_conversations() == N_CONVERSATIONS - 1
        assert store.count_conversations(trash=True) == 1
        assert store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2 * (
            N_CONVERSATIONS - 1
        )
        every = store.list_conversations(limit=100) + store.list_conversations(trash=True)
        assert {c.origin for c in every} == {"app"} and len(every) == N_CONVERSATIONS
        conv = store.get_conversation(f"{5:032x}")
        assert conv.origin == "app" and [m.content for m in conv.messages] == ["hello 5", "hi"]
        # The old rows are the app's: a request from the API does not continue them.
        assert store.find_continued([("user", "hello 5"), ("assistant", "hi")]) is None
        found = store.find_continued([("user", "hello 5"), ("assistant", "hi")], origin="app")
        assert found == (conv.id, f"a{5:031x}", 2)
        new = store.create_conversation(title="from a client", origin="api")
        assert store.list_conversations(limit=1)[0].origin == "api"
        plan = store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM conversations WHERE origin = 'api' "
            "AND deleted_at IS NULL ORDER BY updated_at DESC LIMIT 50"
        ).fetchall()
        assert "conversations_by_origin" in str(plan)
    with Store(path) as store:  # opening again applies nothing more
        assert store.conversation(new.id).origin == "api"
        assert store.count_conversations() == N_CONVERSATIONS


def test_database_from_a_newer_seedchat_is_left_alone(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        f"INSERT INTO {MIGRATIONS_TABLE} (migration_set, name, applied_at) "
        "VALUES ('seedchat', 'm099_future', 'later')"
    )
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="newer seedchat"):
        Store(path)
    assert digest(path) == before


def test_foreign_database_is_not_modified(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE bookmarks (url TEXT, title TEXT)")
    conn.execute("INSERT INTO bookmarks VALUES ('https://example.com', 'x')")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="another program") as info:
        Store(path)
    assert info.value.hint
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seedchat.db"]  # no -wal made


def test_other_sqlite_utils_app_is_not_taken_for_seedchat(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    other = Database(path)
    other["notes"].insert({"text": "mine"})
    other["_sqlite_migrations"].insert(
        {"migration_set": "notes-app", "name": "m001_notes", "applied_at": "2025"}
    )
    other.close()
    before = digest(path)
    with pytest.raises(StoreError, match="another program"):
        Store(path)
    assert digest(path) == before


def test_not_a_database_is_not_overwritten_and_can_be_moved_aside(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    before = digest(path)
    with pytest.raises(DatabaseCorruptError) as info:
        Store(path)
    err = info.value
    assert str(path) in err.message and "move-aside" in err.hint
    assert digest(path) == before
    target = move_aside(path)
    assert target.name.startswith("seedchat.db.corrupt-") and digest(target) == before
    assert not path.exists()
    with Store(path) as store:  # a fresh one starts
        assert store.count_conversations() == 0


def test_damaged_pages_are_detected_on_open(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    with Store(path) as store:
        for i in range(40):
            c = store.create_conversation(title=f"conversation {i}")
            store.add_message(c.id, "user", "text " * 400)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 10 * page
    for off in range(3 * page, 8 * page, 97):  # scribble over some b-tree pages
        data[off] = (data[off] + 101) % 256
    path.write_bytes(bytes(data))
    before = digest(path)
    with pytest.raises(DatabaseCorruptError):
        Store(path)
    assert digest(path) == before
    moved = move_aside(path)
    assert moved.exists() and not path.exists()


def test_full_disk_loses_nothing_already_saved(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    with Store(path) as store:
        c = store.create_conversation(title="precious")
        q = store.add_message(c.id, "user", "keep me")
        rec = store.record_stream(c.id, q.id, flush_interval=3600)
        rec.on_event(AnswerDelta("first part, "))
        assert rec.flush()
        # The disk is full: the database may not grow by a single page.
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")
        rec.on_event(AnswerDelta("x" * 200_000))
        assert rec.flush() is False
        assert "disk" in rec.last_error.message and rec.last_error.hint
        with pytest.raises(StoreError, match="full"):
            store.add_message(c.id, "user", "y" * 200_000)
        with pytest.raises(StoreError, match="full"):
            rec.on_event(Done("stop"))
        assert not rec.finished
        # Everything written before is still there and readable.
        conv = store.get_conversation(c.id)
        assert [m.content for m in conv.messages] == ["keep me", "first part, "]
        # Space again: finishing now saves the whole answer, nothing was dropped.
        store.conn.execute("PRAGMA max_page_count = 1073741823")
        rec.finish("complete")
    with Store(path) as store:
        conv = store.get_conversation(c.id)
        assert conv.messages[1].content == "first part, " + "x" * 200_000
        assert conv.messages[1].status == "complete"
        assert store.check() == "ok"


def test_unwritable_folder_is_a_clear_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="Cannot open"):
        Store(blocker / "seedchat.db")


def test_old_partial_messages_survive_reopen(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    with Store(path) as store:
        c = store.create_conversation()
        q = store.add_message(c.id, "user", "q")
        rec = store.record_stream(c.id, q.id, flush_interval=0.05)
        rec.on_event(AnswerDelta("streamed so far"))
        deadline = time.monotonic() + 5
        while rec.flush_count == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        # the process "ends" here without finish()
    with Store(path) as store:
        m = store.get_conversation(c.id).messages[-1]
        assert (m.content, m.status) == ("streamed so far", "partial")


def test_upgrade_to_attachments_keeps_every_row_and_attaches(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    build_v3_database(path)
    made = Database(path)
    apply_migrations(made, stop_before="m005_attachments")  # the schema before attachments
    made.close()
    with Store(path) as store:
        applied = [r[0] for r in store.conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")]
        assert applied == known_names() and "m005_attachments" in applied
        assert store.count_conversations() == N_CONVERSATIONS - 1
        conv = store.get_conversation(f"{5:032x}")
        assert [m.content for m in conv.messages] == ["hello 5", "hi"]
        assert [m.attachments for m in conv.messages] == [[], []]
        doc = read_document(b"the old chat gets a file", "late.txt")
        msg = store.add_message(conv.id, "user", "and this?", attachments=[doc])
        assert store.message(msg.id).attachments == [doc]


def test_upgrade_to_tool_turns_keeps_every_row(tmp_path: Path):
    """A database at the schema before tool turns (m001–m005), with conversations in it
    (one whose answer called a tool and whose tool result was saved as its content, as an
    API client could store it), upgraded on open: every row and value kept, the new
    columns empty, the old rows still found by search, new tool turns saved beside them."""
    path = tmp_path / "seedchat.db"
    made = Database(path)
    apply_migrations(made, stop_before="m006_tools")
    made.close()
    conn = sqlite3.connect(path)
    t = 1_700_000_000.0
    conn.execute(
        "INSERT INTO conversations (id, title, settings, current_leaf, created_at, updated_at)"
        " VALUES ('c1', 'Weather', '{}', 'm4', ?, ?)",
        [t, t],
    )
    calls = json.dumps([{"name": "get_weather", "arguments": {"city": "Oslo"}, "raw": "<x>"}])
    rows = [
        ("m1", None, "user", "Weather in Oslo?", "[]"),
        ("m2", "m1", "assistant", "", calls),
        ("m3", "m2", "tool", "Oslo: drizzle, 4 C", "[]"),
        ("m4", "m3", "assistant", "It drizzles in Oslo.", "[]"),
    ]
    for mid, parent, role, text, tool_calls in rows:
        conn.execute(
            "INSERT INTO messages (id, conversation_id, parent_id, role, content, tool_calls,"
            " created_at, updated_at) VALUES (?, 'c1', ?, ?, ?, ?, ?, ?)",
            [mid, parent, role, text, tool_calls, t, t],
        )
    conn.commit()
    before = conn.execute("SELECT * FROM messages ORDER BY seq").fetchall()
    conn.close()
    with Store(path) as store:
        applied = [r[0] for r in store.conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")]
        assert applied == known_names() and "m006_tools" in applied
        after = store.conn.execute("SELECT * FROM messages ORDER BY seq").fetchall()
        assert [row[: len(before[0])] for row in after] == before  # every old value kept
        assert all(row[len(before[0]) :] == (None, None) for row in after)
        conv = store.get_conversation("c1")
        assert [m.role for m in conv.messages] == ["user", "assistant", "tool", "assistant"]
        assert conv.messages[1].tool_calls[0]["arguments"] == {"city": "Oslo"}
        assert {h.message_id for h in store.search("drizzle")} == {"m3", "m4"}
        new = store.add_message(
            "c1", "tool", "Bergen: rain", tool_call_id="call_1", tool_name="get_weather"
        )
        assert (store.message(new.id).tool_call_id, store.message(new.id).tool_name) == (
            "call_1",
            "get_weather",
        )
        assert store.check() == "ok"


def test_the_store_opens_without_importing_pandas_and_pandas_still_imports(tmp_path):
    """sqlite-utils would import pandas (0.4 s of every command's start): the store hides it
    while sqlite-utils loads; pandas itself imports as usual afterwards."""
    code = (
        "import sys\n"
        "from seedchat.store import Store\n"
        f"Store({str(tmp_path / 'c.db')!r}).close()\n"
        "assert 'pandas' not in sys.modules, 'the store imported pandas'\n"
        "import pandas\n"
        "print(pandas.DataFrame({'a': [1]}).shape)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 1)"
