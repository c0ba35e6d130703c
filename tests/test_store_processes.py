"""Real second processes: two writers at once, and a writer killed mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from seedchat.store import Store

WRITER = r"""
import sys, time
from seedchat.store import Store
from seedchat.events import AnswerDelta, Done
path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = Store(path)
print("ready", flush=True)
sys.stdin.readline()  # start together
for i in range(n):
    c = store.create_conversation(title=f"{name} {i}")
    q = store.add_message(c.id, "user", f"question {i} from {name}")
    rec = store.record_stream(c.id, q.id, flush_interval=0.01)
    for k in range(5):
        rec.on_event(AnswerDelta(f"{name}-{i}-{k} "))
    time.sleep(0.002)
    rec.on_event(Done("stop", generated_tokens=5))
store.close()
print("done", flush=True)
"""

STREAMER = r"""
import sys, time
from seedchat.store import Store
from seedchat.events import AnswerDelta, ThinkingDelta, ThinkingStart
store = Store(sys.argv[1])
c = store.create_conversation(title="will be killed")
q = store.add_message(c.id, "user", "tell me a long story")
rec = store.record_stream(c.id, q.id, flush_interval=0.1)
rec.on_event(ThinkingStart())
rec.on_event(ThinkingDelta("planning the story", tokens=3))
i = 0
while True:
    rec.on_event(AnswerDelta(f"word{i} "))
    i += 1
    if i == 200:
        print(c.id, rec.message_id, flush=True)
    time.sleep(0.002)
"""


def _spawn(code: str, *args: str, stdin=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def test_two_processes_write_at_once(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    n = 40
    procs = [_spawn(WRITER, str(path), name, str(n), stdin=subprocess.PIPE) for name in "AB"]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:  # both open before either writes: the fresh file is created once
        p.stdin.write("go\n")
        p.stdin.flush()
    # Meanwhile this process reads, as the UI would while 'seedchat history' writes.
    with Store(path) as reader:
        seen = 0
        while any(p.poll() is None for p in procs):
            seen = max(seen, reader.count_conversations())
            reader.list_conversations(limit=10)
            time.sleep(0.01)
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    with Store(path) as store:
        titles = {c.title for c in store.list_conversations(limit=1000)}
        assert titles == {f"{name} {i}" for name in "AB" for i in range(n)}
        rows = store.conn.execute(
            "SELECT status, count(*), sum(length(content)) FROM messages "
            "WHERE role = 'assistant' GROUP BY status"
        ).fetchall()
        assert [r[:2] for r in rows] == [("complete", 2 * n)]
        for c in store.list_conversations(limit=1000):
            name, i = c.title.split()
            msgs = store.get_conversation(c.id).messages
            assert [m.content for m in msgs] == [
                f"question {i} from {name}",
                "".join(f"{name}-{i}-{k} " for k in range(5)),
            ]
        assert store.check() == "ok"


def test_process_killed_mid_stream_leaves_a_partial_message(tmp_path: Path):
    path = tmp_path / "seedchat.db"
    proc = _spawn(STREAMER, str(path))
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    conversation_id, message_id = line.split()
    time.sleep(0.5)  # several flushes happen
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    with Store(path) as store:
        conv = store.get_conversation(conversation_id)
        assert [m.role for m in conv.messages] == ["user", "assistant"]
        assert conv.messages[0].content == "tell me a long story"
        partial = conv.messages[1]
        assert partial.id == message_id
        assert partial.status == "partial"
        assert partial.thinking == "planning the story"
        words = partial.content.split()
        # Everything up to the last flush, in order, nothing torn.
        assert len(words) >= 200
        assert words == [f"word{i}" for i in range(len(words))]
        assert partial.content.endswith(" ")
        assert store.search(words[-1])[0].message_id == message_id
        assert store.check() == "ok"


OPENER = r"""
import sys
from seedchat.store import Store
sys.stdin.readline()  # open together
store = Store(sys.argv[1])
store.create_conversation(title="opened")
store.close()
print("ok", flush=True)
"""


def test_processes_opening_a_new_database_at_once(tmp_path: Path):
    """Four processes open a database that does not exist yet, at the same moment (the UI
    and `seedchat history` on a fresh install): every one opens it; none is told it is
    locked (SQLite answers the switch to WAL mode "locked" at once, without waiting)."""
    for trial in range(5):
        path = tmp_path / f"new-{trial}.db"
        procs = [_spawn(OPENER, str(path), stdin=subprocess.PIPE) for _ in range(4)]
        time.sleep(0.8)  # all started and waiting
        for p in procs:
            p.stdin.write("\n")
            p.stdin.flush()
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert out.strip() == "ok", err
        with Store(path) as store:
            assert store.count_conversations() == 4
