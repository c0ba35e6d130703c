"""seedchat/ui/render.py: events → chat messages, driven by the real thinking parser on the
seed 001 transcripts (split into word-sized pieces, as a stream would arrive)."""

from __future__ import annotations

import re
from pathlib import Path

from seedchat.events import (
    AnswerDelta,
    Done,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
)
from seedchat.seed.thinking import ThinkingParser
from seedchat.ui.render import TurnView, branch_control, render_events, with_branch_control
from seedchat.wording import budget_label, done_footer, finished_title, thinking_title

DATA = Path(__file__).parent / "data"


def transcript_events(name: str, **kwargs) -> list:
    text = (DATA / name).read_text(encoding="utf-8").split("\n", 1)[1]
    ticks = iter(range(10_000))
    parser = ThinkingParser(clock=lambda: next(ticks) * 0.01, **kwargs)
    events = []
    for piece in re.findall(r"\S+|\s+", text):
        events += parser.feed(piece)
    return events + parser.finish()


def stream_titles(events: list, budget: int) -> list[tuple[str, str]]:
    """(status, title) of the thinking block after each event."""
    view = TurnView(budget=budget)
    seen = []
    for event in events:
        view.apply(event)
        msg = view.thinking_message()
        if msg is not None:
            seen.append((msg["metadata"]["status"], msg["metadata"]["title"]))
    return seen


def test_budget_512_block_is_live_then_collapses():
    events = transcript_events("seed001_budget512.txt")
    titles = stream_titles(events, budget=512)
    pending = [t for s, t in titles if s == "pending"]
    assert pending and all(t.startswith("Thinking · ") and "/ 512 tokens" for t in pending)
    # the live count grows: many distinct titles while thinking
    counts = [int(re.search(r"Thinking · (\d+) / 512", t).group(1)) for t in pending]
    assert counts == sorted(counts) and len(set(counts)) > 5
    # the model's own report joins the title after its first reflect line
    assert any("model: used 129, 383 left" in t for t in pending)
    assert any("model: used 258, 254 left" in t for t in pending)
    # it ends collapsed, with the duration and the true count
    status, title = titles[-1]
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    assert status == "done"
    assert title.startswith("Thought for ") and f"{end.tokens} / 512 tokens" in title


def test_budget_512_messages_order_and_reflect_markers():
    events = transcript_events("seed001_budget512.txt")
    messages = render_events(events, budget=512)
    thinking, answer = messages[0], messages[1]
    assert thinking["metadata"]["status"] == "done"
    # the duration shows once, in the title (gradio would show a "duration" again beside it)
    assert "duration" not in thinking["metadata"]
    assert thinking["metadata"]["title"].startswith("Thought for ")
    # reflect lines become markers, never raw tags
    assert "> **model:** used 129, 383 left" in thinking["content"]
    assert "cot_budget_reflect" not in thinking["content"]
    assert "<seed:" not in answer["content"]
    expected = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    assert answer["content"] == expected and answer["content"].strip()
    assert "metadata" not in answer


def test_budget_0_shows_no_thinking_block():
    events = transcript_events("seed001_budget0.txt", start_in_thinking=True, start_in_reflect=True)
    assert any(isinstance(e, ThinkingStart) for e in events)  # the template's pre-fill
    messages = render_events(events, budget=0)
    assert all("metadata" not in m for m in messages)
    assert messages[0]["content"].strip()


def test_unlimited_title_has_no_denominator():
    assert thinking_title(312, -1, None) == "Thinking · 312 tokens"
    reflect = Reflect(used=258, remaining=254, exhausted=False, raw="", true_count=270)
    assert (
        thinking_title(312, 1024, reflect)
        == "Thinking · 312 / 1024 tokens · model: used 258, 254 left"
    )


def test_forced_cut_is_marked_as_seedchat_and_in_the_title():
    events = [
        ThinkingStart(),
        ThinkingDelta("pondering", tokens=512),
        Reflect(None, None, True, "I have exhausted…", true_count=512, injected=True),
        ThinkingEnd(tokens=512, seconds=2.5, forced=True),
        AnswerDelta("42"),
        Done("stop", generated_tokens=520, thinking_tokens=512, seconds=3.0),
    ]
    thinking, answer = render_events(events, budget=512)
    assert "**seedchat:** budget reached at 512 tokens" in thinking["content"]
    assert (
        thinking["metadata"]["title"] == "Thought for 2.5 s · 512 / 512 tokens · cut at the budget"
    )
    assert answer == {"role": "assistant", "content": "42"}


def test_stop_while_thinking_closes_the_block_and_marks_the_answer():
    view = TurnView(budget=1024)
    for event in (ThinkingStart(), ThinkingDelta("hmm", tokens=3)):
        view.apply(event)
    assert view.thinking_message()["metadata"]["status"] == "pending"
    assert view.answer_message() is None  # nothing under the open block yet
    view.apply(Done("cancelled", generated_tokens=3))
    thinking, answer = view.messages()
    assert thinking["metadata"]["status"] == "done"
    assert "stopped" in thinking["metadata"]["title"]
    assert answer["content"] == "*— stopped*"
    # the engine's way: the open block ends unclosed, then Done(cancelled)
    view = TurnView(budget=1024)
    for event in (
        ThinkingStart(),
        ThinkingDelta("hmm", tokens=26),
        ThinkingEnd(tokens=26, seconds=0.1, unclosed=True),
        Done("cancelled"),
    ):
        view.apply(event)
    assert (
        view.thinking_message()["metadata"]["title"]
        == "Thought for 0.1 s · 26 / 1024 tokens · stopped"
    )


def test_answer_placeholder_before_first_token_and_notices():
    view = TurnView(budget=0)
    assert view.messages() == [{"role": "assistant", "content": "…"}]
    view.apply(Notice("Budget 300 is below 512; the model was trained on 0 or 512.", "budget"))
    view.apply(AnswerDelta("Hi"))
    assert view.messages()[0] == {"role": "assistant", "content": "Hi"}
    assert "below 512" in view.messages()[1]["content"]
    for _ in range(3):
        view.apply(Notice("A think tag after the answer began was ignored."))
    notes = [m["content"] for m in view.messages()[1:]]
    assert notes[1] == "ℹ️ *A think tag after the answer began was ignored.* (×3)"
    assert len(notes) == 2


def test_error_is_shown_in_the_answer():
    view = TurnView()
    view.apply(AnswerDelta("partial"))
    view.fail("The model crashed.")
    assert view.answer_message()["content"] == "partial\n\n**Error:** The model crashed."


def test_labels_and_footer():
    assert budget_label(-1) == "unlimited"
    assert budget_label(0) == "answer directly"
    assert budget_label(2048) == "2048 tokens"
    end = ThinkingEnd(tokens=100, seconds=75.0, unclosed=True)
    assert finished_title(end, -1) == "Thought for 1 min 15 s · 100 tokens · unfinished"
    footer = done_footer(
        Done(
            "length",
            generated_tokens=64,
            thinking_tokens=10,
            seconds=2.0,
            time_to_first_token=0.25,
            tokens_per_second=40.0,
        )
    )
    assert footer == (
        "64 tokens · 10 thinking · 40.0 tok/s · first token 0.25 s · 2.0 s total · "
        "stopped at max tokens"
    )


def test_convert_progress_names_the_tensor_and_its_target_type():
    from seedchat.converters.convert import ConvertProgress
    from seedchat.ui.convert_tab import describe

    report = ConvertProgress("quantize", 3, 12, tensor="blk.0.attn_v.weight", target_type="Q6_K")
    fraction, caption = describe(report)
    assert fraction == 0.25
    assert caption == "Quantizing 3/12 · blk.0.attn_v.weight → Q6_K"
    assert describe(ConvertProgress("convert", 1, 2, tensor="x"))[1] == "Converting 1/2 · x"


def test_a_branch_control_links_only_where_there_is_a_sibling():
    assert branch_control("ab", 0, 3) == "‹ 1 / 3 [›](#branch-next-ab)"
    assert branch_control("ab", 1, 3) == "[‹](#branch-prev-ab) 2 / 3 [›](#branch-next-ab)"
    message = {"role": "assistant", "content": "Hi.  "}
    with_branch_control(message, "ab", 0, 1)  # no siblings: no control
    assert message["content"] == "Hi.  "
    with_branch_control(message, "ab", 2, 3)
    assert message["content"] == "Hi.\n\n[‹](#branch-prev-ab) 3 / 3 ›"
