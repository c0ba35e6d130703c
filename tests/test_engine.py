"""The engine with the real llama.cpp: the bundled demo model and a tiny random model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import gguf
import numpy as np
import pytest

from seedchat.engine.kv_files import matching_blocks  # the shared prefix of two lists
from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.errors import ModelFileError
from seedchat.events import (
    AnswerDelta,
    Done,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    event_from_dict,
)
from seedchat.models import demo_model
from seedchat.seed.template import Message

TAG = re.compile(r"</?seed:|</?think>")
QUESTION = [Message("user", "What is 12 + 7?")]


@pytest.fixture(scope="module")
def engine():
    path = demo_model()
    assert path is not None, "the demo model is missing: run packaging/demo_model/build.py"
    with Engine.load(path, LoadOptions(context_length=4096, threads=2)) as e:
        yield e


def run(engine: Engine, messages=QUESTION, **kw) -> list:
    kw.setdefault("seed", 7)
    kw.setdefault("temperature", 0.0)
    return list(engine.generate(messages, GenerationOptions(**kw)))


def text(events, kind) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def test_budget_512_thinks_with_reports_within_the_budget(engine):
    # The demo model does not always close its thinking by itself; with the default hard
    # enforcement, thinking never runs past 512 true tokens whatever the model does.
    events = run(engine, budget=512, max_tokens=900)
    kinds = [type(e) for e in events]
    assert kinds[0] is ThinkingStart and kinds[-1] is Done
    reflects = [e for e in events if isinstance(e, Reflect)]
    assert reflects and all(r.true_count > 0 for r in reflects)
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    assert 0 < end.tokens <= 512
    if end.forced:
        assert end.tokens == 512 and any(r.injected and r.exhausted for r in reflects)
    # after thinking closes, the answer cannot open a budget report that would swallow it
    assert not any(isinstance(e, Notice) and "outside" in e.text for e in events)
    assert not TAG.search(text(events, AnswerDelta)) and not TAG.search(text(events, ThinkingDelta))
    deltas = [e.tokens for e in events if isinstance(e, ThinkingDelta)]
    assert deltas == sorted(deltas)  # the true counter only grows
    done = events[-1]
    assert done.thinking_tokens == end.tokens
    assert done.generated_tokens > end.tokens and done.tokens_per_second > 0


def test_budget_zero_answers_directly(engine):
    events = run(engine, budget=0, max_tokens=200)
    assert not [e for e in events if isinstance(e, ThinkingStart | ThinkingEnd | Reflect)]
    assert text(events, AnswerDelta).strip() and not TAG.search(text(events, AnswerDelta))
    assert events[-1].finish_reason == "stop" and events[-1].thinking_tokens == 0


def test_unlimited_is_never_cut(engine):
    events = run(engine, budget=-1, max_tokens=700, temperature=0.3, seed=1)
    assert isinstance(events[0], ThinkingStart)
    assert not [e for e in events if isinstance(e, Reflect) and e.injected]
    ends = [e for e in events if isinstance(e, ThinkingEnd)]
    assert ends and not any(e.forced for e in ends)
    assert events[-1].thinking_tokens == sum(e.tokens for e in ends[-1:])
    assert "thinking budget" not in engine.render(QUESTION, GenerationOptions(budget=-1))


def test_hard_budget_cuts_thinking_at_the_budget(engine):
    events = run(engine, budget=100, enforcement="hard", max_tokens=300, temperature=0.8)
    assert any(
        isinstance(e, Notice) and e.kind == "budget" for e in events
    )  # not a multiple of 512
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    assert end.forced and end.tokens == 100
    injected = [e for e in events if isinstance(e, Reflect) and e.injected]
    assert len(injected) == 1 and injected[0].exhausted
    assert not any(isinstance(e, ThinkingDelta) for e in events[events.index(end) :])
    answer = text(events, AnswerDelta)
    assert answer.strip() and not TAG.search(answer)
    assert events[-1].thinking_tokens == 100
    assert not any(isinstance(e, Notice) and "outside" in e.text for e in events)


def test_soft_budget_leaves_it_to_the_model(engine):
    events = run(engine, budget=100, enforcement="soft", max_tokens=300, temperature=0.8)
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    assert not end.forced and not any(isinstance(e, Reflect) and e.injected for e in events)


def test_cancel_from_another_thread_within_a_token(engine):
    cancel = threading.Event()
    seen_after_cancel = 0
    events = []
    for event in engine.generate(QUESTION, GenerationOptions(budget=512, seed=1), cancel):
        events.append(event)
        if cancel.is_set() and isinstance(event, ThinkingDelta | AnswerDelta):
            seen_after_cancel += 1
        if isinstance(event, ThinkingDelta) and len(events) > 5 and not cancel.is_set():
            threading.Thread(target=cancel.set).start()
            time.sleep(0.05)
    assert events[-1].finish_reason == "cancelled"
    assert seen_after_cancel <= 1
    # the engine is still usable
    assert run(engine, budget=0, max_tokens=30)[-1].generated_tokens > 0


def test_second_turn_evaluates_only_new_tokens(engine):
    first = run(engine, budget=0, max_tokens=60)
    answer = text(first, AnswerDelta)
    history = [*QUESTION, Message("assistant", answer), Message("user", "And 3 + 4?")]
    opts = GenerationOptions(budget=0)
    before = engine.tokenize(engine.render(QUESTION, opts))
    after = engine.tokenize(engine.render(history, opts))
    run(engine, history, budget=0, max_tokens=20)
    turn = engine.last_turn
    assert turn.prompt_tokens == len(after)
    # the template drops turn 1's pre-filled think block: reuse stops where the prompts part
    assert turn.reused_tokens >= matching_blocks(before, after) > 50
    assert turn.evaluated_prompt_tokens == turn.prompt_tokens - turn.reused_tokens
    assert turn.evaluated_prompt_tokens < turn.prompt_tokens / 2
    # the same prompt again: only the last token is evaluated (its logits are needed)
    run(engine, history, budget=0, max_tokens=5)
    assert engine.last_turn.evaluated_prompt_tokens == 1


def test_long_conversation_drops_oldest_turns(tmp_path):
    path = demo_model()
    with Engine.load(path, LoadOptions(context_length=256, threads=2)) as small:
        history = []
        for i in range(12):
            history += [Message("user", f"Say the word apple {i}."), Message("assistant", "Apple.")]
        history.append(Message("user", "What is 1 + 1?"))
        events = list(small.generate(history, GenerationOptions(budget=0, max_tokens=40, seed=1)))
    notices = [e for e in events if isinstance(e, Notice) and e.kind == "context"]
    assert notices and small.last_turn.dropped_messages > 0
    assert isinstance(events[-1], Done)
    # the notice names what was left out, oldest first, by role and first words
    n = small.last_turn.dropped_messages
    assert f"the {n} oldest message(s)" in notices[0].text and "256 tokens" in notices[0].text
    assert 'user "Say the word apple 0."; assistant "Apple."' in notices[0].text
    assert f'"Say the word apple {(n + 1) // 2}."' not in notices[0].text


def test_raw_completion(engine):
    events = list(
        engine.generate(
            "<seed:bos>user\nHello!<seed:eos><seed:bos>assistant\n",
            GenerationOptions(raw=True, max_tokens=20, temperature=0),
        )
    )
    assert events[-1].generated_tokens > 0
    assert engine.last_turn.prompt_tokens == len(
        engine.tokenize("<seed:bos>user\nHello!<seed:eos><seed:bos>assistant\n")
    )


def _write_gguf(path, arch: str) -> None:
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_load_errors_are_clear(tmp_path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        Engine.load(bad)
    demo = demo_model()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(demo.read_bytes()[: demo.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        Engine.load(cut)
    other = tmp_path / "bert.gguf"
    _write_gguf(other, "bert")
    with pytest.raises(ModelFileError, match="Seed models"):
        Engine.load(other)


def test_cli_chat_json_and_show_prompt(cli_env):
    base = [sys.executable, "-m", "seedchat", "chat"]
    proc = subprocess.run(
        [*base, "What is 2 + 3?", "--json", "--budget", "0", "--seed", "3", "--temperature", "0"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[-1] == "Done" and "AnswerDelta" in types and "ThinkingStart" not in types
    assert [type(event_from_dict(e)).__name__ for e in events] == types
    shown = subprocess.run(
        [*base, "hi", "--show-prompt", "--budget", "0"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert shown.stdout.startswith("<seed:bos>system\n") and shown.stdout.endswith("</seed:think>")
    plain = subprocess.run(
        [*base, "Hello!", "--budget", "512", "--seed", "3"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert plain.returncode == 0 and "Thought for" in plain.stdout and "tokens" in plain.stdout


def test_cli_chat_saves_the_conversation(cli_env):
    """An interactive `seedchat chat` is saved turn by turn, as the UI saves it, and
    `seedchat history` shows it; --no-save saves nothing."""
    from seedchat.store import Store

    base = [sys.executable, "-m", "seedchat", "chat", "--budget", "0", "--seed", "1"]
    proc = subprocess.run(
        base,
        input="What is 2 + 3?\nAnd 4 + 4?\n\n",
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "saved: seedchat history show" in proc.stderr
    with Store() as store:
        convs = store.list_conversations()
        assert len(convs) == 1 and convs[0].title == "What is 2 + 3?"
        conv = store.get_conversation(convs[0].id)
    assert [m.role for m in conv.messages] == ["user", "assistant", "user", "assistant"]
    assert conv.messages[2].content == "And 4 + 4?"
    assert all(m.status == "complete" and m.model for m in conv.messages if m.role == "assistant")
    assert conv.settings["budget"] == 0 and conv.settings["enforcement"] == "hard"
    assert conv.messages[1].content.strip() and conv.messages[1].content in proc.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "seedchat", "history", "show", conv.id[:8]],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=60,
    )
    assert "And 4 + 4?" in shown.stdout
    quiet = subprocess.run(
        [*base, "--no-save", "Hello?"], capture_output=True, text=True, env=cli_env, timeout=300
    )
    assert quiet.returncode == 0 and "saved:" not in quiet.stderr
    with Store() as store:
        assert store.count_conversations() == 1
