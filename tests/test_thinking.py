"""The thinking parser on the published Seed-OSS transcripts and on broken streams."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedchat.events import (
    AnswerDelta,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.seed.tags import forced_end_text
from seedchat.seed.thinking import ThinkingParser, initial_state, parse_reflect

DATA = Path(__file__).parent / "data"
TAG = re.compile(r"</?(?:seed:)?(?:think|cot_budget_reflect|tool_call|eos|bos|pad)>")


def transcript(name: str) -> str:
    """A transcript fixture without its source line."""
    return (DATA / name).read_text(encoding="utf-8").split("\n", 1)[1]


# (file, start_in_thinking, start_in_reflect): budget 0's prompt pre-filled the open tags.
TRANSCRIPTS = [
    ("seed001_budget512.txt", False, False),
    ("seed001_budget1024.txt", False, False),
    ("seed001_sft1024.txt", False, False),
    ("seed001_budget0.txt", True, True),
]


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 0.5
        return self.t


def run(pieces, **kwargs) -> list:
    parser = ThinkingParser(clock=Clock(), **kwargs)
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.finish()


def normalized(events: list) -> list:
    """Merge adjacent text deltas and drop the counts that depend on how text was split."""
    out: list = []
    for e in events:
        if isinstance(e, ThinkingDelta | AnswerDelta) and out and type(out[-1]) is type(e):
            out[-1] = type(e)(out[-1].text + e.text)
        elif isinstance(e, ThinkingDelta):
            out.append(ThinkingDelta(e.text))
        elif isinstance(e, Reflect):
            out.append(dataclasses.replace(e, true_count=0))
        elif isinstance(e, ThinkingEnd):
            out.append(dataclasses.replace(e, tokens=0, seconds=0.0))
        else:
            out.append(e)
    return out


def text_of(events: list, kind: type) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def expected_parts(text: str, start_in_thinking: bool) -> tuple[str, str, list[str]]:
    """Thinking text, answer text and reflect bodies, cut out of a transcript with regexes."""
    if start_in_thinking and "<seed:think>" not in text:
        text = (
            "<seed:think>" + ("<seed:cot_budget_reflect>" if "budget is 0" in text else "") + text
        )
    think = re.search(r"<seed:think>(.*?)</seed:think>", text, re.S).group(1)
    answer = text.split("</seed:think>", 1)[1].replace("<seed:eos>", "")
    reflects = re.findall(r"<seed:cot_budget_reflect>(.*?)</seed:cot_budget_reflect>", think, re.S)
    think = re.sub(r"<seed:cot_budget_reflect>.*?</seed:cot_budget_reflect>", "", think, flags=re.S)
    return think.lstrip("\n"), answer.lstrip("\n"), [r.strip() for r in reflects]


@pytest.mark.parametrize(("name", "in_think", "in_reflect"), TRANSCRIPTS)
def test_transcript_in_one_piece(name, in_think, in_reflect):
    text = transcript(name)
    events = run([text], start_in_thinking=in_think, start_in_reflect=in_reflect)
    think, answer, reflects = expected_parts(text, in_think)
    assert isinstance(events[0], ThinkingStart) and events[0].by_template == in_think
    assert text_of(events, ThinkingDelta) == think
    assert text_of(events, AnswerDelta) == answer
    assert [r.raw for r in events if isinstance(r, Reflect)] == reflects
    assert sum(isinstance(e, ThinkingEnd) for e in events) == 1
    assert not [e for e in events if isinstance(e, Notice)]
    assert not TAG.search(text_of(events, AnswerDelta) + text_of(events, ThinkingDelta))


@pytest.mark.parametrize(("name", "in_think", "in_reflect"), TRANSCRIPTS)
def test_transcript_every_two_way_split(name, in_think, in_reflect):
    text = transcript(name)
    kw = {"start_in_thinking": in_think, "start_in_reflect": in_reflect}
    reference = normalized(run([text], **kw))
    for k in range(len(text) + 1):
        got = normalized(run([text[:k], text[k:]], **kw))
        assert got == reference, f"split at {k}: {text[max(0, k - 20) : k]!r}|{text[k : k + 20]!r}"


@pytest.mark.parametrize(("name", "in_think", "in_reflect"), TRANSCRIPTS)
def test_transcript_char_by_char(name, in_think, in_reflect):
    text = transcript(name)
    kw = {"start_in_thinking": in_think, "start_in_reflect": in_reflect}
    assert normalized(run(list(text), **kw)) == normalized(run([text], **kw))


def test_reflect_numbers_of_the_512_transcript():
    events = run([transcript("seed001_budget512.txt")])
    reports = [(r.used, r.remaining, r.exhausted) for r in events if isinstance(r, Reflect)]
    assert reports == [(129, 383, False), (258, 254, False), (393, 119, False), (None, 0, True)]


def test_true_count_counts_pieces_inside_the_block():
    parser = ThinkingParser(clock=Clock())
    parser.feed("<seed:think>")  # the opening token is not counted
    for _ in range(10):
        parser.feed("word ")
    assert parser.in_thinking and parser.thinking_tokens == 10
    parser.feed("<seed:cot_budget_reflect>", tokens=1)
    events = parser.feed("I have used 11 tokens, and there are 1 tokens remaining for use.", 15)
    events += parser.feed("</seed:cot_budget_reflect>")
    reflect = next(e for e in events if isinstance(e, Reflect))
    assert reflect.true_count == 27 and reflect.used == 11
    events = parser.feed("</seed:think>")  # the closing token is counted
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    assert end.tokens == 28 and end.seconds > 0 and not end.forced
    parser.feed("answer", tokens=4)
    assert parser.thinking_tokens == 28 and parser.thinking_done and not parser.in_thinking


def test_thinking_delta_carries_the_running_count():
    parser = ThinkingParser(start_in_thinking=True)
    events = parser.feed("abc", tokens=3) + parser.feed("def", tokens=2)
    assert [e.tokens for e in events if isinstance(e, ThinkingDelta)] == [3, 5]


def test_forced_cut_then_model_closes_again():
    parser = ThinkingParser(clock=Clock())
    parser.feed("<seed:think>")
    for _ in range(5):
        parser.feed("thinking ")
    events = parser.feed(forced_end_text(), tokens=30, injected=True)
    assert parser.thinking_tokens == 5  # injected text is not the model's thinking
    reflect = next(e for e in events if isinstance(e, Reflect))
    assert reflect.exhausted and reflect.injected
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    assert end.forced and end.tokens == 5
    # The model, unaware, writes its own report and closing tag: none of it leaks.
    later = []
    for piece in [
        "<seed:cot_budget_reflect>I have exhausted",
        " my budget.</seed:cot_budget_reflect>",
        "\n</seed:",
        "think>",
        "\nThe answer",
        " is 4.",
    ]:
        later += parser.feed(piece)
    later += parser.finish()
    assert text_of(later, AnswerDelta) == "The answer is 4."
    assert not [e for e in later if isinstance(e, ThinkingEnd | Reflect)]


def test_unclosed_think_block_at_end_of_stream():
    events = run(["<seed:think>still thinking", " when the tokens ran out"])
    assert isinstance(events[-1], ThinkingEnd) and events[-1].unclosed
    assert text_of(events, ThinkingDelta) == "still thinking when the tokens ran out"
    assert text_of(events, AnswerDelta) == ""


def test_open_reflect_at_end_of_stream_is_still_reported():
    events = run(["<seed:think>x<seed:cot_budget_reflect>I have used 12 tok"])
    reflect = next(e for e in events if isinstance(e, Reflect))
    assert reflect.used is None and reflect.raw == "I have used 12 tok"
    assert events[-1].unclosed


@pytest.mark.parametrize("tail", ["<seed:th", "<", "</seed:think", "<seed:cot_budget_refl"])
def test_partial_tag_at_end_of_stream_is_text(tail):
    events = run(["answer ", tail])
    assert text_of(events, AnswerDelta) == "answer " + tail


def test_angle_brackets_that_are_not_tags_pass_through_at_every_split():
    text = "If a < b and b<c then <div class='x'>a<b</div> <seed:thinking> <thinker> 1<2"
    for k in range(len(text) + 1):
        assert text_of(run([text[:k], text[k:]]), AnswerDelta) == text


def test_plain_think_tags_and_empty_block():
    events = run(["<think>\nhmm</think>\n\nYes."])
    assert text_of(events, ThinkingDelta) == "hmm"
    assert text_of(events, AnswerDelta) == "Yes."
    events = run(["<seed:think></seed:think>Direct."])
    assert [type(e) for e in events] == [ThinkingStart, ThinkingEnd, AnswerDelta]


def test_reflect_then_empty_close_with_long_prompts():
    # A known failure: a reflect line, then the block closes with no thinking text.
    text = "<seed:think><seed:cot_budget_reflect>I have used 0 tokens, and there are 512 tokens remaining for use.</seed:cot_budget_reflect></seed:think>Answer."
    events = run([text])
    assert [type(e) for e in events] == [ThinkingStart, Reflect, ThinkingEnd, AnswerDelta]
    assert text_of(events, AnswerDelta) == "Answer."


def test_template_opened_block():
    events = run(["reasoning</seed:think>answer"], start_in_thinking=True)
    assert events[0] == ThinkingStart(by_template=True)
    assert text_of(events, ThinkingDelta) == "reasoning"
    assert text_of(events, AnswerDelta) == "answer"
    # the model repeating the template's opening tag is not a second block
    again = run(["\n<seed:think>reasoning</seed:think>answer"], start_in_thinking=True)
    assert normalized(again) == normalized(events)


def test_nested_and_stray_tags_never_leak():
    events = run(["<seed:think>a<seed:think>b</seed:think>c</seed:think>d<seed:think>e<seed:eos>"])
    assert text_of(events, ThinkingDelta) == "ab"
    assert text_of(events, AnswerDelta) == "cde"
    assert len([e for e in events if isinstance(e, Notice)]) == 2
    stray = run(["Hello </seed:think>world</seed:cot_budget_reflect>"])
    assert text_of(stray, AnswerDelta) == "Hello world"
    assert any(isinstance(e, Notice) for e in stray)


TOOL = (
    "Let me check.<seed:tool_call>\n<function=get_weather>\n<parameter=city>北京</parameter>\n"
    "<parameter=unit>\ncelsius\n</parameter>\n</function>\n</seed:tool_call>Done."
)


def test_tool_call_at_every_split():
    for k in range(len(TOOL) + 1):
        events = run([TOOL[:k], TOOL[k:]])
        calls = [e for e in events if isinstance(e, ToolCall)]
        assert len(calls) == 1, k
        assert calls[0].name == "get_weather"
        assert calls[0].arguments == {"city": "北京", "unit": "celsius"}
        assert text_of(events, AnswerDelta) == "Let me check.Done."


def test_malformed_and_unclosed_tool_calls():
    events = run(["<seed:tool_call>no function here</seed:tool_call>"])
    assert text_of(events, AnswerDelta) == "no function here"
    assert any(isinstance(e, Notice) for e in events)
    events = run(["<seed:tool_call><function=f>\n<parameter=x>1</parameter>"])
    assert [e.name for e in events if isinstance(e, ToolCall)] == ["f"]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("<seed:bos>user\nhi<seed:eos><seed:bos>assistant\n", (False, False)),
        ("<seed:bos>assistant\n<seed:think>", (True, False)),
        ("<seed:bos>assistant\n<seed:think><seed:cot_budget_reflect>", (True, True)),
        ("...<seed:think>old</seed:think>x<seed:eos><seed:bos>assistant\n", (False, False)),
        (
            "<seed:think><seed:cot_budget_reflect>0</seed:cot_budget_reflect>\n</seed:think>",
            (False, False),
        ),
    ],
)
def test_initial_state_from_prompt(prompt, expected):
    assert initial_state(prompt) == expected


def test_parse_reflect_variants():
    assert parse_reflect("I have used 129 tokens, and there are 383 tokens remaining for use.") == (
        129,
        383,
        False,
    )
    assert parse_reflect("I have used 1 token, and there is 0 tokens left.") == (1, 0, False)
    assert parse_reflect(
        "I have exhausted my token budget, and now I will start answering the question."
    ) == (None, 0, True)
    assert parse_reflect("something else") == (None, None, False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), max_size=12), st.sampled_from(TRANSCRIPTS))
def test_random_splits_give_the_same_events(cuts, case):
    name, in_think, in_reflect = case
    text = transcript(name)
    points = sorted({min(c * 7, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    kw = {"start_in_thinking": in_think, "start_in_reflect": in_reflect}
    assert normalized(run(pieces, **kw)) == normalized(run([text], **kw))


def test_report_outside_thinking_then_close_tag_gives_one_end():
    # after a forced cut the model may write its own report and closing tag in the answer
    events = run(
        [
            "<seed:think>a</seed:think>",
            "<seed:cot_budget_reflect>I have used 9 tokens",
            "</seed:think>Answer.",
        ]
    )
    assert sum(isinstance(e, ThinkingEnd) for e in events) == 1
    assert text_of(events, AnswerDelta) == "Answer."


def test_forced_cut_inside_the_model_s_own_report():
    parser = ThinkingParser(clock=Clock())
    parser.feed("<seed:think>thinking <seed:cot_budget_reflect>I have used 1")
    assert parser.in_reflect and parser.in_thinking
    events = parser.feed(forced_end_text(in_reflect=True), injected=True) + parser.feed("Hi.")
    reflects = [e for e in events if isinstance(e, Reflect)]
    assert reflects[0].raw == "I have used 1"
    assert reflects[-1].exhausted and reflects[-1].injected
    assert sum(isinstance(e, ThinkingEnd) for e in events) == 1
    assert text_of(events, AnswerDelta) == "Hi." and not parser.in_reflect


# Seed-OSS writes the call format while it thinks; only the call after thinking is a call.
DRAFTED = "<seed:tool_call>\n<function=get_weather>\n<parameter=city>北京</parameter>\n</function>\n</seed:tool_call>"
THOUGHT_CALL = (
    "<seed:think>The format is " + DRAFTED + ", so I will call it.</seed:think>"
    "Checking." + TOOL.split("Let me check.")[1]
)
# The tags as a model's tokens: each tag one piece, the text between in short pieces.
TAG_PIECES = re.compile(
    r"(</?seed:[a-z_]+>|<function=[^>]*>|<parameter=[^>]*>|</\w+>|.{1,3})", re.S
)


@pytest.mark.parametrize("split", ["whole", "tags", "chars"])
def test_a_tool_call_inside_thinking_is_thinking_text(split):
    pieces = {
        "whole": [THOUGHT_CALL],
        "tags": TAG_PIECES.findall(THOUGHT_CALL),
        "chars": list(THOUGHT_CALL),
    }[split]
    assert "".join(pieces) == THOUGHT_CALL
    events = run(pieces)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert len(calls) == 1  # the one after thinking, not the drafted one
    assert calls[0].arguments == {"city": "北京", "unit": "celsius"}
    assert text_of(events, ThinkingDelta) == "The format is " + DRAFTED + ", so I will call it."
    assert text_of(events, AnswerDelta) == "Checking.Done."
    assert not [e for e in events if isinstance(e, Notice)]


@pytest.mark.parametrize("split", ["whole", "chars"])
def test_an_unclosed_call_tag_inside_thinking_cannot_swallow_the_answer(split):
    text = "<seed:think>I could write <seed:tool_call> here.</seed:think>The answer."
    events = run([text] if split == "whole" else list(text))
    assert not [e for e in events if isinstance(e, ToolCall)]
    assert text_of(events, ThinkingDelta) == "I could write <seed:tool_call> here."
    assert text_of(events, AnswerDelta) == "The answer."
    end = [e for e in events if isinstance(e, ThinkingEnd)]
    assert len(end) == 1 and not end[0].unclosed


def test_a_call_in_a_thinking_cut_short_is_still_thinking():
    # the template opened the block; the stream ends before thinking closes
    events = run(list("Maybe " + DRAFTED), start_in_thinking=True)
    assert not [e for e in events if isinstance(e, ToolCall)]
    assert text_of(events, ThinkingDelta) == "Maybe " + DRAFTED
    assert [e.unclosed for e in events if isinstance(e, ThinkingEnd)] == [True]
