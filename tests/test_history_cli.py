"""`seedchat history …` run as a real command against the real database file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seedchat.events import AnswerDelta, Done, Reflect, ThinkingDelta, ThinkingEnd, ThinkingStart
from seedchat.paths import get_paths
from seedchat.store import Store


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seedchat", "history", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=120,
    )


@pytest.fixture
def saved(cli_env) -> dict[str, str]:
    with Store() as s:
        a = s.create_conversation(model="seed.gguf")
        q = s.add_message(a.id, "user", "Why is the sky blue? 天空为什么是蓝色的？")
        rec = s.record_stream(a.id, q.id, {"thinking_budget": 512})
        rec.on_event(ThinkingStart())
        rec.on_event(ThinkingDelta("Rayleigh scattering of sunlight.", tokens=6))
        rec.on_event(Reflect(6, 506, False, "I have used 6 tokens", 7))
        rec.on_event(ThinkingEnd(tokens=8, seconds=0.1))
        rec.on_event(AnswerDelta("Because of [bold]Rayleigh[/bold] scattering."))
        rec.on_event(Done("stop", generated_tokens=30, tokens_per_second=21.0))
        b = s.create_conversation(title="Second chat")
        s.add_message(b.id, "user", "hello there")
    return {"sky": a.id, "second": b.id}


def test_list(cli_env, saved):
    proc = run("list", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert saved["second"][:8] in lines[1] and "Second chat" in lines[1]  # newest first
    assert saved["sky"][:8] in lines[2] and "Why is the sky blue?" in lines[2]
    assert "page 1 of 1 · 2 conversations" in proc.stdout
    page2 = run("list", "--limit", "1", "--page", "2", "--json", env=cli_env)
    assert [c["id"] for c in json.loads(page2.stdout)] == [saved["sky"]]


def test_show_prints_thinking_dimmed_and_markup_literally(cli_env, saved):
    proc = run("show", saved["sky"][:6], env=cli_env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Thinking (8 tokens)" in out and "Rayleigh scattering of sunlight." in out
    assert "I have used 6 tokens (true 7)" in out
    assert "Because of [bold]Rayleigh[/bold] scattering." in out  # not taken as markup
    assert "30 tokens · 21.0 tok/s" in out
    quiet = run("show", saved["sky"][:6], "--no-thinking", env=cli_env).stdout
    assert "Rayleigh scattering of sunlight" not in quiet
    md = run("show", saved["sky"], "--markdown", env=cli_env).stdout
    assert "<details>" in md and md.startswith("# Why is the sky blue?")


def test_search(cli_env, saved):
    proc = run("search", "天空", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert saved["sky"][:8] in proc.stdout and "天空" in proc.stdout
    proc = run("search", "rayleigh", env=cli_env)
    assert "(assistant)" in proc.stdout and "Rayleigh" in proc.stdout
    assert "Second chat" not in proc.stdout
    none = run("search", "zzzqqq", env=cli_env)
    assert none.returncode == 0 and "No conversation matches" in none.stdout


def test_rename_delete_undo(cli_env, saved):
    sid = saved["second"][:8]
    assert run("rename", sid, "Greetings", "chat", env=cli_env).returncode == 0
    with Store() as s:
        assert s.get_conversation(saved["second"]).title == "Greetings chat"
    proc = run("delete", sid, env=cli_env)
    assert proc.returncode == 0 and "30 days" in proc.stdout and "--undo" in proc.stdout
    assert "Greetings" not in run("list", env=cli_env).stdout
    assert "Greetings" in run("list", "--trash", env=cli_env).stdout
    assert run("delete", "--undo", sid, env=cli_env).returncode == 0
    assert "Greetings" in run("list", env=cli_env).stdout
    run("delete", sid, env=cli_env)
    assert run("restore", sid, env=cli_env).returncode == 0
    assert "Greetings" in run("list", env=cli_env).stdout


def test_export_import(cli_env, saved, tmp_path: Path):
    out = tmp_path / "all.json"
    proc = run("export", "-o", str(out), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert {c["id"] for c in data["conversations"]} == set(saved.values())
    md = tmp_path / "sky.md"
    assert run("export", saved["sky"][:8], "-o", str(md), env=cli_env).returncode == 0
    assert md.read_text().startswith("# Why is the sky blue?")
    txt = tmp_path / "sky.txt"
    assert run("export", "--format", "md", "-o", str(txt), env=cli_env).returncode == 0
    assert "<details>" in txt.read_text()

    get_paths().database.unlink()  # a fresh home
    for side in ("-wal", "-shm"):
        Path(str(get_paths().database) + side).unlink(missing_ok=True)
    proc = run("import", str(out), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "Imported 2 conversations (3 messages)" in proc.stdout
    again = run("import", str(out), env=cli_env)
    assert "2 already saved (skipped)" in again.stdout


def test_errors_are_clear(cli_env, saved, tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "seedchat-conversations", "version": 1, "conversations": [1]}')
    proc = run("import", str(bad), env=cli_env)
    assert proc.returncode == 1
    assert "must be an object" in proc.stderr and "Nothing was imported" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("show", "abcdef12", env=cli_env)
    assert proc.returncode == 1 and "no conversation with id abcdef12" in proc.stderr


def test_corrupt_database_then_move_aside(cli_env):
    db = get_paths().database
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"garbage, not SQLite" * 100)
    proc = run("list", env=cli_env)
    assert proc.returncode == 1
    assert str(db) in proc.stderr and "move-aside" in proc.stderr
    assert db.read_bytes() == b"garbage, not SQLite" * 100
    proc = run("move-aside", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    moved = list(db.parent.glob("seedchat.db.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == b"garbage, not SQLite" * 100
    proc = run("list", env=cli_env)
    assert proc.returncode == 0 and "No saved conversations yet." in proc.stdout
    refused = run("move-aside", env=cli_env)
    assert refused.returncode == 1 and "opens fine" in refused.stderr


def test_list_and_show_mark_api_conversations(cli_env, saved):
    with Store() as s:
        api = s.create_conversation(model="seed.gguf", origin="api")
        s.add_message(api.id, "user", "Sent by an API client")
        s.add_message(api.id, "assistant", "Saved with --save")
    proc = run("list", "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    origins = {c["id"]: c["origin"] for c in json.loads(proc.stdout)}
    assert origins == {api.id: "api", saved["second"]: "app", saved["sky"]: "app"}
    lines = run("list", env=cli_env).stdout.splitlines()
    assert "from" in lines[0].split()
    assert api.id[:8] in lines[1] and " API " in lines[1] and "Sent by an API client" in lines[1]
    assert " app " in lines[2] and " API " not in lines[2]
    show = run("show", api.id[:8], env=cli_env).stdout
    assert "from the API" in show.splitlines()[1]
    assert "from the API" not in run("show", saved["sky"][:8], env=cli_env).stdout
    md = run("show", api.id[:8], "--markdown", env=cli_env).stdout
    assert "- from: the API" in md
