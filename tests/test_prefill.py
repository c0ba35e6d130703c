"""A long prompt's evaluation with the real llama.cpp (the bundled demo model): progress
events after each batch, Cancel between batches (the KV cache keeps what was evaluated and
the next question reuses it), and a second question about the same document after a
restart restoring the saved KV state instead of reading the document again."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from seedchat.cli.chat import EventPrinter, cancel_on_interrupt
from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.events import AnswerDelta, Done, Prefill, ThinkingDelta
from seedchat.models import demo_model
from seedchat.seed.template import Message
from seedchat.wording import prefill_line

BATCH = 64
DOCUMENT = "Here is a document to read.\n" + "\n".join(
    f"Line {i}: the {i % 7}th shelf holds {i * 3} blue jars of plum jam." for i in range(60)
)


def load(disk_gb: float = 0, n_batch: int = BATCH) -> Engine:
    path = demo_model()
    assert path is not None, "the demo model is missing: run packaging/demo_model/build.py"
    options = LoadOptions(context_length=4096, threads=2, n_batch=n_batch, kv_cache_disk_gb=disk_gb)
    return Engine.load(path, options)


@pytest.fixture(scope="module")
def engine():
    with load() as e:
        yield e


def ask(engine: Engine, question: str, cancel: threading.Event | None = None, **kw) -> list:
    options = GenerationOptions(budget=0, max_tokens=kw.pop("max_tokens", 8), seed=3, **kw)
    messages = [Message("user", f"{DOCUMENT}\n{question}")]
    events = []
    for event in engine.generate(messages, options, cancel):
        events.append(event)
        if cancel is not None and isinstance(event, Prefill):
            cancel.set()  # the user presses Cancel when the first batch is done
    return events


def test_progress_is_monotone_and_ends_at_the_total(engine):
    engine._prepare([0])  # an empty cache: the whole prompt is evaluated
    events = ask(engine, "How many jars are on the 3rd shelf?")
    done = events[-1]
    progress = [e for e in events if isinstance(e, Prefill)]
    assert isinstance(done, Done) and done.evaluated_prompt_tokens > 4 * BATCH
    assert [p.done for p in progress] == sorted({p.done for p in progress})  # strictly rising
    assert progress[0].done == BATCH and progress[-1].done == progress[-1].total
    assert {p.total for p in progress} == {done.evaluated_prompt_tokens}
    assert len(progress) == -(-done.evaluated_prompt_tokens // BATCH)  # one per batch
    assert all(p.tokens_per_second > 0 for p in progress)
    assert progress[-1].seconds_left == 0 and all(p.seconds_left >= 0 for p in progress)
    # the progress comes first, before anything of the reply
    kinds = [type(e) for e in events]
    assert kinds[: len(progress)] == [Prefill] * len(progress) and kinds[-1] is Done
    # a short follow-up (one batch or less) sends no progress
    again = ask(engine, "How many jars are on the 3rd shelf? Answer in one word.")
    assert again[-1].evaluated_prompt_tokens <= BATCH
    assert not [e for e in again if isinstance(e, Prefill)]


def test_cancel_mid_prefill_keeps_what_was_evaluated_and_the_next_question_reuses_it(engine):
    engine._prepare([0])
    events = ask(engine, "Which shelf has the most jars?", threading.Event())
    done = events[-1]
    progress = [e for e in events if isinstance(e, Prefill)]
    assert isinstance(done, Done) and done.finish_reason == "cancelled"
    assert len(progress) == 1 and progress[0].done == BATCH < progress[0].total
    assert done.generated_tokens == 0 and not [e for e in events if isinstance(e, AnswerDelta)]
    assert done.evaluated_prompt_tokens == BATCH  # what was really evaluated
    assert engine.cached_tokens == BATCH  # the KV cache holds exactly that prefix
    # asked again: only what the cancelled prefill did not evaluate is evaluated
    again = ask(engine, "Which shelf has the most jars?")
    finished = again[-1]
    assert finished.finish_reason in ("stop", "length") and finished.generated_tokens > 0
    assert finished.prompt_tokens == done.prompt_tokens
    assert finished.evaluated_prompt_tokens == done.prompt_tokens - BATCH
    reread = [e for e in again if isinstance(e, Prefill)]
    assert reread[-1].done == reread[-1].total == done.prompt_tokens - BATCH


def test_the_same_reply_as_one_uncancelled_prefill(engine):
    """Cancel, then ask again, gives the reply an uninterrupted prefill gives (greedy)."""
    question = "Name the shelf of line 12."
    engine._prepare([0])
    ask(engine, question, threading.Event())
    resumed = ask(engine, question, temperature=0.0, max_tokens=12)
    engine._prepare([0])
    whole = ask(engine, question, temperature=0.0, max_tokens=12)

    def reply(events):
        return [e.text for e in events if isinstance(e, AnswerDelta | ThinkingDelta)]

    assert resumed[-1].evaluated_prompt_tokens < whole[-1].evaluated_prompt_tokens
    assert reply(resumed) == reply(whole)


def test_a_second_question_about_the_document_after_a_restart_restores_its_state():
    with load(disk_gb=1) as first:
        done1 = ask(first, "How many jars are on the 3rd shelf?")[-1]
        assert first.snapshots is not None and first.snapshots.flush(60)
    with load(disk_gb=1) as reopened:
        events = ask(reopened, "And which line names the most jars?")
    done2 = events[-1]
    assert done1.restored_prompt_tokens == 0 and done1.evaluated_prompt_tokens > 4 * BATCH
    assert done2.restored_prompt_tokens > done2.prompt_tokens // 2  # the document: restored
    assert done2.evaluated_prompt_tokens < done1.evaluated_prompt_tokens // 2
    assert done2.restored_prompt_tokens + done2.evaluated_prompt_tokens == done2.prompt_tokens
    progress = [e for e in events if isinstance(e, Prefill)]
    if progress:  # only what was not restored is read, with its own total
        assert progress[-1].total == done2.evaluated_prompt_tokens


def test_prefill_line_words():
    line = prefill_line(Prefill(12288, 100412, 610.0, 144.0))
    assert (
        line
        == "Reading the prompt: 12,288 of 100,412 tokens · 610 tokens/s · about 2 min 24 s left"
    )
    assert (
        prefill_line(Prefill(100, 100, 50.0, 0.0))
        == "Reading the prompt: 100 of 100 tokens · 50 tokens/s"
    )


def test_chat_json_prints_the_progress_events(cli_env, tmp_path: Path):
    doc = tmp_path / "jam.txt"
    doc.write_text(DOCUMENT * 2)  # over one batch of the default 512 tokens
    out = subprocess.run(
        [
            *(sys.executable, "-m", "seedchat", "chat", "--json", "--no-save", "-b", "0"),
            *("--max-tokens", "4", "--file", str(doc), "How many jars?"),
        ],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
        cwd=os.getcwd(),
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    progress = [e for e in events if e["type"] == "Prefill"]
    done = events[-1]
    assert done["type"] == "Done" and done["finish_reason"] in ("stop", "length")
    assert len(progress) >= 2
    assert [p["done"] for p in progress] == sorted({p["done"] for p in progress})
    assert progress[-1]["done"] == progress[-1]["total"] == done["evaluated_prompt_tokens"]


def test_the_terminal_shows_one_live_line_on_stderr_and_clears_it():
    out = Console(file=io.StringIO(), width=200, color_system=None)
    err = Console(file=io.StringIO(), width=200, color_system=None, force_terminal=True)
    printer = EventPrinter(as_json=False, budget=0, out=out, err=err)
    for done in (512, 1024, 1536):
        printer(Prefill(done, 1536, 400.0, (1536 - done) / 400))
    printer(AnswerDelta("Twelve."))
    shown = err.file.getvalue()
    assert shown.count("\r\x1b[2K") == 4 and shown.endswith("\r\x1b[2K")  # 3 lines, cleared
    assert "Reading the prompt: 512 of 1,536 tokens · 400 tokens/s · about 3 s left" in shown
    assert "Reading the prompt" not in out.file.getvalue()
    assert "Twelve." in out.file.getvalue()
    piped = Console(file=io.StringIO(), width=200)  # not a terminal: no progress line
    EventPrinter(as_json=False, budget=0, out=out, err=piped)(Prefill(1, 2, 1.0, 1.0))
    assert piped.file.getvalue() == ""


def test_ctrl_c_sets_cancel_then_a_second_one_interrupts():
    cancel = threading.Event()
    before = signal.getsignal(signal.SIGINT)
    with cancel_on_interrupt(cancel):
        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl+C: a clean stop
        for _ in range(100):
            if cancel.is_set():
                break
            time.sleep(0.01)
        assert cancel.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second: at once
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before  # put back
