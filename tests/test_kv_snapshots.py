"""Saved KV states (instant reopen) with the real llama.cpp: the bundled demo model and a
generated Seed-OSS-shaped model. A reopened conversation restores its state and evaluates
only the new tokens, and its reply is token for token the reply of a full evaluation;
every kind of bad file is ignored (and deleted) with the same reply; the budget, deleting
a conversation and a crash while writing."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seedchat.chat.session import ChatSession, delete_conversation
from seedchat.doctor import run_doctor
from seedchat.engine.kv_files import (
    INDEX,
    SUFFIX,
    cache_root,
    forget_conversation,
    matching_blocks,  # the shared prefix of two lists (of tokens here)
)
from seedchat.engine.kv_snapshots import BLOCK, TAIL, restore_point
from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.events import AnswerDelta, Done
from seedchat.models import demo_model
from seedchat.seed.prompt_tokens import prompt_tokens
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings
from seedchat.store import Store
from seedchat.wording import done_footer

REPO = Path(__file__).resolve().parents[1]
LONG = (
    "Please read this list carefully. "
    + " ".join(f"Item {i} is a small red apple from the orchard." for i in range(60))
    + " How many items are there?"
)
FOLLOW_UP = "Now tell me about item 7 and item 8, and count the apples for me, one by one."
LOG = "seedchat.engine.kv_snapshots"


@pytest.fixture(scope="module")
def seed_oss_model(tmp_path_factory) -> Path:
    """A random Seed-OSS-shaped GGUF (the benchmarks' generator, tiny; F16)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _synth import write_checkpoint

    from seedchat.converters import convert_checkpoint

    root = tmp_path_factory.mktemp("seed-oss")
    ckpt = write_checkpoint(
        root / "ckpt",
        hidden=256,
        layers=2,
        ff=512,
        heads=4,
        kv_heads=2,
        head_dim=64,
        vocab=1024,
        seed=3,
    )
    return convert_checkpoint(ckpt, root / "seed-oss-tiny.gguf", quant="F16")


@pytest.fixture(params=["demo", "seed-oss"])
def model(request, seed_oss_model) -> Path:
    return demo_model() if request.param == "demo" else seed_oss_model


def load(path: Path, disk_gb: float = 10, kv: str = "f16") -> Engine:
    return Engine.load(
        path,
        LoadOptions(context_length=4096, threads=2, kv_cache_disk_gb=disk_gb, kv_cache_type=kv),
    )


def turn(engine: Engine, messages, conversation: str | None = "c1") -> tuple[Done, list[int]]:
    """One reply (sampled, fixed seed): its Done and every token the KV cache then holds
    (the prompt's, then the reply's: the random model's tokens are mostly empty text)."""
    # lookup decoding off: whether it drafts depends on measured timing (a loaded machine),
    # and a drafted token is checked in a batch, whose kernels give slightly other logits
    options = GenerationOptions(
        budget=0,
        max_tokens=40,
        temperature=0.9,
        seed=11,
        conversation=conversation,
        lookup_decoding="off",
    )
    events = list(engine.generate(messages, options))
    return events[-1], list(engine._tokens)


def first_turn(path: Path, conversation: str = "c1", text: str = LONG) -> list[Message]:
    """Ask ``text`` in an engine that then closes; the messages of the next turn."""
    with load(path) as engine:
        events = list(
            engine.generate(
                [Message("user", text)],
                GenerationOptions(
                    budget=0, max_tokens=40, temperature=0.9, seed=5, conversation=conversation
                ),
            )
        )
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    return [Message("user", text), Message("assistant", answer), Message("user", FOLLOW_UP)]


def sent_tokens(engine: Engine, messages: list[Message]) -> list[int]:
    """The prompt's tokens as the engine sends them: the messages' text is text (the demo
    model's sampled answer may hold a tag's characters, as here a ``</seed:tool_call>``)."""
    return prompt_tokens(engine, engine.template.render_marked(messages, 0))


def saved(root: Path | None = None) -> list[Path]:
    return sorted((root or cache_root()).glob("*/*" + SUFFIX))


def test_reopen_after_restart_restores_and_equals_a_full_evaluation(model):
    messages = first_turn(model)
    assert len(saved()) == 1  # written before the engine closed
    with load(model) as engine:
        done, restored_tokens = turn(engine, messages)
        prompt = sent_tokens(engine, messages)
        before = sent_tokens(engine, messages[:1])
    assert done.prompt_tokens == len(prompt)
    assert done.restored_prompt_tokens > 0 and done.restored_prompt_tokens % BLOCK == 0
    assert done.restored_prompt_tokens + done.evaluated_prompt_tokens == done.prompt_tokens
    new = len(prompt) - matching_blocks(before, prompt)  # what the first turn did not hold
    assert TAIL <= done.evaluated_prompt_tokens <= new + TAIL + BLOCK
    with load(model, disk_gb=0) as full:  # no saved states: the whole prompt evaluated
        full_done, full_tokens = turn(full, messages)
    assert full_done.evaluated_prompt_tokens == full_done.prompt_tokens
    assert full_done.restored_prompt_tokens == 0
    assert restored_tokens == full_tokens  # token for token, the reply included
    assert full_done.generated_tokens == done.generated_tokens > 0


# -- bad files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made(seed_oss_model, tmp_path_factory) -> dict:
    """Snapshots of the first turn made once (by the model, and by a copy of it at another
    path), and the second turn's reference replies from full evaluations (f16 and q8_0)."""
    home = tmp_path_factory.mktemp("made")
    old = os.environ.get("SEEDCHAT_HOME")
    os.environ["SEEDCHAT_HOME"] = str(home)
    try:
        messages = first_turn(seed_oss_model)
        folder = saved()[0].parent
        copy = home / "copy" / seed_oss_model.name
        copy.parent.mkdir()
        shutil.copy(seed_oss_model, copy)
        first_turn(copy)
        other = next(p.parent for p in saved() if p.parent != folder)
        with load(seed_oss_model, disk_gb=0) as full:
            reference = turn(full, messages)[1]
        with load(seed_oss_model, disk_gb=0, kv="q8_0") as full:
            reference_q8 = turn(full, messages)[1]
    finally:
        if old is None:
            os.environ.pop("SEEDCHAT_HOME", None)
        else:
            os.environ["SEEDCHAT_HOME"] = old
    return {
        "messages": messages,
        "folder": folder,
        "other": other,
        "f16": reference,
        "q8_0": reference_q8,
    }


def place(source: Path, target: Path) -> Path:
    """Put the snapshot of folder ``source`` into folder ``target`` (file and index entry)."""
    target.mkdir(parents=True, exist_ok=True)
    file = next(source.glob("*" + SUFFIX))
    shutil.copy(file, target / file.name)
    index = json.loads((source / INDEX).read_text())
    (target / INDEX).write_text(json.dumps(index))
    return target / file.name


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1000] ^= 0x40  # one bit of the KV state
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def other_llama(path: Path) -> None:
    index = json.loads((path.parent / INDEX).read_text())
    for entry in index["entries"].values():
        entry["llama_cpp"] = "0.0.1"
    (path.parent / INDEX).write_text(json.dumps(index))


@pytest.mark.parametrize(
    "case", ["corrupted", "truncated", "another model", "another KV type", "another llama.cpp"]
)
def test_a_bad_snapshot_is_ignored_deleted_and_the_reply_is_the_same(
    case, made, seed_oss_model, caplog
):
    kv = "q8_0" if case == "another KV type" else "f16"
    with load(seed_oss_model, kv=kv) as engine:
        target = engine.snapshots.folder
        source = made["other"] if case == "another model" else made["folder"]
        file = place(source, target)  # as if it had been saved for this model and layout
        if case == "corrupted":
            corrupt(file)
        elif case == "truncated":
            truncate(file)
        elif case == "another llama.cpp":
            other_llama(file)
        with caplog.at_level(logging.DEBUG, logger=LOG):
            done, tokens = turn(engine, made["messages"])
    assert done.restored_prompt_tokens == 0
    assert done.evaluated_prompt_tokens == done.prompt_tokens
    assert tokens == made[kv]  # the reply of a full evaluation
    assert not file.exists()
    why = [r.getMessage() for r in caplog.records if "ignoring and deleting" in r.getMessage()]
    assert len(why) == 1 and file.name in why[0]
    assert {
        "corrupted": "state is damaged",
        "truncated": "truncated",
        "another model": "another model",
        "another KV type": "another kv_type",
        "another llama.cpp": "llama-cpp-python 0.0.1",
    }[case] in why[0]


def test_snapshots_of_another_layout_are_left_alone(made, seed_oss_model):
    """A q8_0 engine does not look at (or delete) the f16 engine's snapshots."""
    with load(seed_oss_model) as f16:
        kept = place(made["folder"], f16.snapshots.folder)
    with load(seed_oss_model, kv="q8_0") as engine:
        done, _ = turn(engine, made["messages"])
        assert engine.snapshots.folder != kept.parent
    assert done.restored_prompt_tokens == 0 and kept.exists()


# -- budget, deletion, crashes -----------------------------------------------------------


def entries() -> dict[str, dict]:
    """Every saved state's index entry, by its conversation."""
    out = {}
    for path in saved():
        entry = json.loads(path.parent.joinpath(INDEX).read_text())["entries"][path.name]
        out[entry["conversations"][0]] = entry
    return out


def ask(path: Path, text: str, conversation: str, disk_gb: float = 10) -> Done:
    with load(path, disk_gb=disk_gb) as engine:
        return turn(engine, [Message("user", text)], conversation)[0]


def test_the_budget_evicts_the_least_recently_used():
    demo = demo_model()
    ask(demo, LONG, "a")
    size = saved()[0].stat().st_size
    ask(demo, LONG.replace("apple", "pear"), "b")
    # a's question again after a restart: its state is restored (and not written again),
    # so a, saved first, is now the one used last
    assert ask(demo, LONG, "a").restored_prompt_tokens > 0
    used = entries()
    assert used["a"]["created"] < used["b"]["created"] and used["a"]["used"] > used["b"]["used"]
    ask(demo, LONG.replace("apple", "plum"), "c", disk_gb=2.5 * size / 2**30)  # room for two
    assert sorted(entries()) == ["a", "c"]  # b, the least recently used, went


def test_deleting_a_conversation_deletes_its_snapshots(seedchat_home):
    demo = demo_model()
    with load(demo) as engine, Store() as store:
        settings = ChatSettings(budget=0, max_tokens=10, seed=1)
        kept = ChatSession(engine, store, settings)
        list(kept.turn(LONG.replace("apple", "pear")))
        gone = ChatSession(engine, store, settings)
        list(gone.turn(LONG))
        engine.snapshots.flush(30)
        assert len(saved()) == 2
        checks = {c.name: c.detail for c in run_doctor().checks}
        assert "2 files for 1 models" in checks["saved KV states"]
        delete_conversation(store, gone.thread.conversation_id)
        assert len(saved()) == 1
        assert store.count_conversations(trash=True) == 1  # the conversation is in the trash
        assert forget_conversation(kept.thread.conversation_id) == 1
    assert saved() == []


CRASHING_WRITER = """
import os, signal, sys
from seedchat.engine import kv_files
from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.models import demo_model
from seedchat.seed.template import Message
from seedchat.seed.prompt_tokens import prompt_tokens

def crash(fh, payload):  # the process dies half-way through the state
    view = memoryview(payload).cast("B")
    fh.write(view[: len(view) // 2])
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)

kv_files.write_payload = crash
engine = Engine.load(demo_model(), LoadOptions(context_length=4096, threads=2))
list(engine.generate([Message("user", sys.argv[1])], GenerationOptions(budget=0, max_tokens=5)))
engine.snapshots.flush(60)
"""


def test_a_crash_while_writing_leaves_nothing_that_is_used(cli_env, caplog):
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASHING_WRITER), LONG],
        env=cli_env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    leftovers = list(cache_root().glob("*/.*.tmp"))
    assert len(leftovers) == 1 and saved() == []  # half a file, under its temporary name
    messages = [Message("user", LONG), Message("assistant", "Sixty."), Message("user", FOLLOW_UP)]
    with load(demo_model()) as engine:
        done, _ = turn(engine, messages)
        assert done.restored_prompt_tokens == 0
        assert done.evaluated_prompt_tokens == done.prompt_tokens
    assert not leftovers[0].exists()  # removed once its process was gone
    assert len(saved()) == 1  # this reply's state


# -- small parts ---------------------------------------------------------------------------


def test_restore_point_leaves_batches_of_full_evaluation_kinds():
    assert restore_point(900, 1000, 512) == 896  # ≥ TAIL left, on a block
    assert restore_point(2000, 1000, 512) == 896  # never past the prompt's last TAIL
    assert restore_point(64 * 9, 1000, 512) == 64 * 9
    # a full evaluation of 1030 ends with a 6-token batch: restore at a batch boundary
    assert restore_point(1000, 1030, 512) == 512
    # 1100 - 576 = 524 would end with a 12-token batch: one block less
    assert restore_point(576, 1100, 512) == 512
    assert restore_point(100, 1000, 512) == 64


def test_footer_says_where_the_prompt_came_from():
    done = Done(
        "stop",
        prompt_tokens=9847,
        evaluated_prompt_tokens=35,
        restored_prompt_tokens=9812,
        generated_tokens=20,
        seconds=1.5,
    )
    assert "restored 9,812 · evaluated 35" in done_footer(done)
    reused = Done("stop", prompt_tokens=500, evaluated_prompt_tokens=40, seconds=1.0)
    assert "reused 460 · evaluated 40" in done_footer(reused)
    assert "restored" not in done_footer(reused)


def test_capture_copies_the_state_llama_cpp_gives(seed_oss_model):
    from seedchat.engine.kv_snapshots import capture_state

    with load(seed_oss_model) as engine:
        turn(engine, [Message("user", LONG)])
        buf = capture_state(engine._llama, engine._ctx)
        size = engine._llama.llama_state_seq_get_size(engine._ctx, 0)
    assert isinstance(buf, ctypes.Array) and len(buf) == size > 0
