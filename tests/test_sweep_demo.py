"""The budget lab on the bundled demo model (the real llama.cpp, a real SQLite file, the
real ``seedchat sweep`` command): the JSON, budgets kept, cut replies counted, accuracy as
the checks say, a killed sweep resumed with nothing answered twice, a chat waiting behind
the sweep told so."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from seedchat.budget_lab.builtin_sets import demo
from seedchat.budget_lab.questions import Question, QuestionSet
from seedchat.budget_lab.runner import ask, run_sweep, start_sweep
from seedchat.chat.session import ChatSession
from seedchat.engine.host import ModelHost
from seedchat.events import Notice
from seedchat.models import demo_model
from seedchat.settings import ChatSettings, load_settings
from seedchat.store import Store, Sweeps

pytestmark = pytest.mark.slow

# the demo model's own tasks: three words (brief thinking: a fast test on 2 shared cores)
SMALL = [q for q in demo().questions if q.id in ("word-apple", "word-river", "word-seed")]
COUNT = Question("count-3", "Count from 1 to 3.", "1, 2, 3", "contains")  # long thinking
GREEDY = ["--temperature", "0"]


def write_set(path: Path, questions: list[Question]) -> Path:
    path.write_text("".join(json.dumps(q.to_dict()) + "\n" for q in questions))
    return path


def sweep(cli_env, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seedchat", "sweep", *args],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_sweep_of_the_demo_models_questions_writes_the_json(cli_env, tmp_path):
    questions = write_set(tmp_path / "small.jsonl", SMALL)
    out, csv = tmp_path / "out.json", tmp_path / "out.csv"
    done = sweep(
        cli_env,
        str(questions),
        "--budgets",
        "0,512,1024",
        *GREEDY,
        "-o",
        str(out),
        "--csv",
        str(csv),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert {"model", "set", "samples", "enforce", "budgets", "runs", "recommended_budget"} <= set(
        data
    )
    assert (data["set"], data["samples"], data["enforce"]) == ("small.jsonl", 1, "hard")
    assert data["model"] == demo_model().name
    assert [b["budget"] for b in data["budgets"]] == [0, 512, 1024]
    assert len(data["runs"]) == 9
    by_id = {q.id: q for q in SMALL}
    for run in data["runs"]:
        assert run["thinking_tokens"] <= run["budget"]  # hard: never past the budget
        assert run["correct"] == by_id[run["question_id"]].is_right(run["answer"])
    for line in data["budgets"]:
        runs = [r for r in data["runs"] if r["budget"] == line["budget"]]
        assert line["n"] == 3
        assert line["correct"] == sum(r["correct"] for r in runs)
        assert line["accuracy"] == pytest.approx(line["correct"] / 3)
        assert line["ci95"][0] <= line["accuracy"] <= line["ci95"][1]
        assert line["cut_at_budget"] == sum(r["cut"] for r in runs)
        assert line["mean_seconds"] > 0
    assert all(r["thinking_tokens"] == 0 for r in data["runs"] if r["budget"] == 0)
    assert any(r["thinking_tokens"] > 0 for r in data["runs"] if r["budget"] == 512)
    assert data["recommended_budget"] in (0, 512, 1024)
    assert csv.read_text().splitlines()[0].startswith("budget,n,correct,accuracy")
    assert "Recommended budget" in done.stdout


@pytest.fixture(scope="module")
def host():
    host = ModelHost(load_settings())
    host.load(demo_model(), remember=False)
    yield host
    host.unload()


def test_a_hard_budget_below_the_thinking_cuts_and_is_counted(host, tmp_path):
    word = SMALL[0]  # its thinking is about 66 tokens: a budget of 32 cuts it
    cut = ask(host, word, ChatSettings(temperature=0, enforcement="hard"), 32)
    assert cut.cut and 0 < cut.thinking_tokens <= 32
    free = ask(host, word, ChatSettings(temperature=0, enforcement="hard"), 512)
    assert not free.cut and free.thinking_tokens > 32
    with Store(tmp_path / "c.db") as store:
        sweeps = Sweeps(store.db)
        settings = ChatSettings(temperature=0, enforcement="hard")
        record = start_sweep(sweeps, QuestionSet("one", (word,)), "demo", [32, 512], 1, settings)
        assert run_sweep(host, sweeps, record) == "done"
        from seedchat.budget_lab.report import report

        lines = report(sweeps.get(record.id), sweeps.runs(record.id))["budgets"]
        assert [line["cut_at_budget"] for line in lines] == [1, 0]


def test_a_chat_waiting_behind_the_sweep_is_told(host, tmp_path):
    count = COUNT  # a long thinking: the chat asks while it runs
    with Store(tmp_path / "c.db") as store:
        sweeps = Sweeps(store.db)
        settings = ChatSettings(temperature=0)
        record = start_sweep(sweeps, QuestionSet("c", (count,)), "demo", [1024], 1, settings)
        cancel = threading.Event()
        worker = threading.Thread(target=run_sweep, args=(host, sweeps, record, cancel))
        worker.start()
        deadline = time.monotonic() + 30
        while not host.busy and time.monotonic() < deadline:
            time.sleep(0.01)
        session = ChatSession(host, None, ChatSettings(budget=0, temperature=0))
        first = next(iter(session.turn("Say the word apple.")))
        cancel.set()  # and Stop stops the sweep cleanly
        worker.join(60)
        assert isinstance(first, Notice) and first.kind == "busy"
        assert "waiting for its turn" in first.text
        assert sweeps.get(record.id).status == "stopped"
        assert sweeps.runs(record.id) == []  # the stopped reply is not saved as an answer


def saved_runs(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT question_id, budget, sample, created_at FROM sweep_runs ORDER BY rowid"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def test_resume_after_a_killed_sweep_answers_nothing_twice(cli_env, seedchat_home, tmp_path):
    words = [q for q in demo().questions if q.id.startswith("word-")][:5]
    questions = write_set(tmp_path / "words.jsonl", words)
    proc = subprocess.Popen(
        [sys.executable, "-m", "seedchat", "sweep", str(questions), "--budgets", "0,512", *GREEDY],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    path = None
    while time.monotonic() < deadline and proc.poll() is None:
        path = next(seedchat_home.rglob("*.db"), None)
        if path is not None and len(saved_runs(path)) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # a crash: no chance to say "stopped"
    proc.wait(30)
    before = saved_runs(path)
    assert 3 <= len(before) < 10, "the sweep was not killed midway"
    out = tmp_path / "out.json"
    done = sweep(cli_env, "--resume", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} replies saved" in done.stderr.replace("\n", " ")
    after = saved_runs(path)
    assert after[: len(before)] == before  # the saved replies were not asked again
    keys = [row[:3] for row in after]
    assert len(keys) == len(set(keys)) == 10
    data = json.loads(out.read_text())
    assert sorted((r["question_id"], r["budget"]) for r in data["runs"]) == sorted(
        (q.id, b) for q in words for b in (0, 512)
    )
    assert data["status"] == "done"


def test_answer_at_budgets_makes_one_sibling_per_budget(host, tmp_path):
    from seedchat.budget_lab.runner import answer_at_budgets
    from seedchat.events import Done

    with Store(tmp_path / "c.db") as store:
        session = ChatSession(host, store, ChatSettings(budget=-1, temperature=0), model="demo")
        list(session.turn("Say the word apple."))
        first = session.turns[-1].id
        events = list(answer_at_budgets(session, [0, 64, 512]))
        assert sum(isinstance(e, Done) for e in events) == 3
        siblings = store.siblings(first)
        assert len(siblings) == 4  # the first answer and one per budget
        assert [ChatSettings.from_record(m.settings).budget for m in siblings] == [-1, 0, 64, 512]
        assert [m.stats.get("thinking_tokens", 0) <= 64 for m in siblings[1:3]] == [True, True]
        assert len({m.parent_id for m in siblings}) == 1  # all answers to the one question
        assert session.settings.budget == -1  # the chat's own budget is kept
        conv = store.get_conversation(session.thread.conversation_id)
        assert ChatSettings.from_record(conv.settings).budget == -1
        # the page's branch switcher says each sibling's budget
        from seedchat.ui.conversations import open_conversation, switch_branch

        shown = open_conversation(store, conv.id).chat[-1]["content"]
        assert shown.endswith("4 / 4 › · budget: 512 tokens")
        back = switch_branch(store, conv.id, f"branch-prev-{siblings[-1].id}").chat
        assert any(
            m["content"].endswith(f"3 / 4 [›](#branch-next-{siblings[2].id}) · budget: 64 tokens")
            for m in back
        )
