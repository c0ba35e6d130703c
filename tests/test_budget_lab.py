"""The budget lab's library without a model: question sets and their checkers, the
built-in sets, the figures (Wilson interval, censored cuts, the recommended budget), the
store's sweeps (a reply saved once), a hub dataset offline."""

from __future__ import annotations

import json

import pytest

from seedchat.budget_lab.builtin_sets import BUILTIN, builtin_set
from seedchat.budget_lab.questions import (
    Question,
    QuestionSetError,
    check_choice,
    check_contains,
    check_exact,
    check_number,
    check_regex,
    last_number,
    parse_jsonl,
)
from seedchat.budget_lab.report import budgets_csv, recommended, report, stats, wilson
from seedchat.budget_lab.runner import SweepError, parse_budgets, pending, seconds_left
from seedchat.budget_lab.sources import load_questions, parse_mapping
from seedchat.errors import StoreError
from seedchat.store import Store, SweepRun, Sweeps


@pytest.mark.parametrize(
    ("reply", "expected", "right"),
    [
        ("The total is 1,234 km.", "1234", True),
        ("It weighs 2,500.5 g", "2500.5", True),
        ("First 12, then 40 apples.", "40", True),
        ("First 40, then 12 apples.", "40", False),  # the last number counts
        ("The change is -3 degrees.", "-3", True),
        ("The change is 3 degrees.", "-3", False),
        ("The answer is 0.5", "0.50", True),
        ("45.0", "45", True),
        ("There are 36500 metres", "36,500", True),
        ("No number here.", "7", False),
        ("Version v2 is 10x faster: 10", "10", True),
    ],
)
def test_number_reads_the_last_number_of_the_answer(reply, expected, right):
    assert check_number(reply, expected) is right


def test_number_never_reads_the_thinking():
    # the thinking found 42 and the answer says 41: the run is wrong, as the answer is
    q = Question("q", "What is 20 + 22?", "42", "number")
    thinking, answer = "20 + 22 = 42, so the answer is 42.", "The answer is 41."
    assert not q.is_right(answer)
    assert q.is_right(thinking)  # (what a checker reading the thinking would have said)


def test_last_number_forms():
    assert str(last_number("from -1,000,000.25 to 3")) == "3"
    assert str(last_number("−7 °C")) == "-7"
    assert last_number("abc") is None


def test_the_other_checkers_with_tricky_answers():
    assert check_exact("  Paris. ", "paris")
    assert not check_exact("Paris, France", "Paris")
    assert check_contains("The answer:  1, 2,\n3, 4.", "1, 2, 3, 4")
    assert not check_contains("1, 2, 4", "1, 2, 3")
    assert check_regex("It is 12:37 in Tokyo.", r"\b12:37\b")
    assert not check_regex("It is 2:37", r"\b12:37\b")
    assert check_choice("I think (B) is wrong; the answer is C", "C")
    assert check_choice("Answer: (d)".replace("d", "D"), "D")
    assert not check_choice("A or B? I pick B.", "A")
    assert not check_choice("Apple", "A")  # a letter inside a word is no choice


def test_jsonl_defaults_ids_and_errors_name_the_line(tmp_path):
    good = parse_jsonl(
        ['{"question": "2+2?", "answer": 4}', "", '{"question": "Capital?", "answer": "Paris"}'],
        "mine.jsonl",
    )
    assert [q.check for q in good.questions] == ["number", "contains"]
    assert good.questions[0].id != good.questions[1].id
    cases = {
        '{"question": "x"': "line 2: not JSON",
        '{"answer": 3}': 'line 2: no "question"',
        '{"question": "x", "answer": [1]}': 'line 2: "answer" must be',
        '{"question": "x", "answer": "y", "check": "fuzzy"}': 'line 2: unknown check "fuzzy"',
        '{"question": "x", "answer": "(", "check": "regex"}': "line 2: a bad regex",
        '{"question": "x", "answer": "none", "check": "number"}': 'line 2: check "number"',
        '{"question": "2+2?", "answer": 4}': "line 2: the question id",
    }
    for line, message in cases.items():
        with pytest.raises(QuestionSetError) as err:
            parse_jsonl(['{"question": "2+2?", "answer": 4}', line], "bad.jsonl")
        assert f"bad.jsonl, {message}" in str(err.value)
        assert err.value.hint
    with pytest.raises(QuestionSetError, match="has no questions"):
        parse_jsonl(["", " "], "empty.jsonl")
    path = tmp_path / "set.jsonl"
    path.write_text('{"question": "Say hi", "answer": "hi", "check": "exact", "id": "h"}\n')
    assert load_questions(str(path)).questions[0].id == "h"
    with pytest.raises(QuestionSetError, match="neither a file nor"):
        load_questions(str(tmp_path / "nothing.jsonl"))


def test_builtin_sets_are_large_deterministic_and_checked_by_code():
    for name in BUILTIN:
        one, two = builtin_set(name), builtin_set(name)
        assert one == two
        assert len({q.id for q in one.questions}) == len(one.questions)
        assert len(one.questions) >= (50 if name != "demo" else 10)
        for q in one.questions:
            assert q.is_right(q.answer), q  # every expected answer passes its own check
    arithmetic = builtin_set("arithmetic").questions
    assert {q.id[-2:] for q in arithmetic} == {"d1", "d2", "d3", "d4", "d5"}
    first = arithmetic[0]  # one step: the numbers in the text give the answer
    a, b = (int(n) for n in __import__("re").findall(r"\d+", first.question)[:2])
    assert int(first.answer) in (a + b, a - b)
    units = {q.question: q.answer for q in builtin_set("units").questions}
    assert units["How many metres are in 36.5 kilometres? Answer with the number."] == "36500"
    assert all("." not in a or not a.endswith("0") for a in units.values())
    with pytest.raises(QuestionSetError, match="no built-in question set"):
        builtin_set("nope")


def test_wilson_interval():
    lo, hi = wilson(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)
    assert wilson(0, 0) == (0.0, 0.0)
    assert wilson(10, 10)[1] == pytest.approx(1.0)


def _run(q: str, budget: int, correct: bool, thinking: int = 10, cut: bool = False, s: float = 1.0):
    return SweepRun(q, budget, 0, correct, thinking, 5, s, cut, "x", 15.0)


def test_stats_censored_cuts_and_the_recommended_budget():
    runs = [_run(f"q{i}", 0, i < 2, 0, s=0.5) for i in range(10)]
    runs += [_run(f"q{i}", 512, i < 8, 400, cut=i >= 7, s=4) for i in range(10)]
    runs += [_run(f"q{i}", -1, i < 9, 900, s=9) for i in range(10)]
    lines = stats([0, 512, -1], runs)
    assert [s.correct for s in lines] == [2, 8, 9]
    assert [s.cut_at_budget for s in lines] == [0, 3, 0]
    assert lines[1].mean_thinking_tokens == 400 and lines[1].mean_seconds == 4
    assert lines[1].tokens_per_second == pytest.approx(405 / 4)
    best = recommended(lines)  # 512's 80 % is within unlimited's interval, 0's 20 % is not
    assert best.budget == 512
    assert recommended(stats([0, -1], [_run("a", 0, True), _run("a", -1, True)])).budget == 0
    csv = budgets_csv(lines).splitlines()
    assert csv[0].startswith("budget,n,correct,accuracy,ci95_low,ci95_high")
    assert csv[2].startswith("512,10,8,0.8000,")


def test_budgets_parse_sorted_with_unlimited_last():
    assert parse_budgets("-1,512,0") == [0, 512, -1]
    for bad in ("", "a,1", "-2", "0,0", "999999"):
        with pytest.raises(SweepError):
            parse_budgets(bad)


def test_a_sweep_in_the_store_saves_each_reply_once_and_resumes(tmp_path):
    with Store(tmp_path / "c.db") as store:
        sweeps = Sweeps(store.db)
        qs = [Question("a", "A?", "1", "number").to_dict(), Question("b", "B?", "2").to_dict()]
        config = {"budgets": [0, 512], "samples": 2, "enforce": "hard", "settings": {}}
        record = sweeps.create("mine", "m.gguf", config, qs)
        assert len(pending(record, [])) == 8
        sweeps.add_run(record.id, _run("a", 0, True))
        with pytest.raises(StoreError, match="already has the reply"):
            sweeps.add_run(record.id, _run("a", 0, False))
        left = pending(sweeps.get(record.id), sweeps.runs(record.id))
        assert len(left) == 7 and ("a", 0, 0) not in [(q.id, b, s) for q, b, s in left]
        assert seconds_left(sweeps.runs(record.id), left) == 7.0
        assert sweeps.latest_unfinished("mine").id == record.id
        sweeps.set_status(record.id, "done")
        assert sweeps.latest_unfinished() is None
        assert sweeps.get(record.id).done == 1
        out = report(sweeps.get(record.id), sweeps.runs(record.id))
        assert out["budgets"][0]["n"] == 1 and out["budgets"][1]["n"] == 0
        assert json.loads(json.dumps(out))["recommended_budget"] == 0
        assert sweeps.resolve(record.id[:6]) == record.id
        sweeps.delete(record.id)
        assert sweeps.list() == []
        assert store.conn.execute("SELECT COUNT(*) FROM sweep_runs").fetchone()[0] == 0


def test_a_hub_dataset_offline_says_so(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # read when huggingface_hub is first imported: set it too, so no address is looked up
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(QuestionSetError) as err:
        load_questions("hf:someone/qa", parse_mapping("question=problem,answer=solution"))
    assert "someone/qa" in str(err.value) and "offline" in str(err.value).lower()
    assert getattr(err.value, "hint", "")
    with pytest.raises(QuestionSetError, match="bad column mapping"):
        parse_mapping("query=problem")
