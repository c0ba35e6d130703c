"""`seedchat chat` words the events as the page does (seedchat/wording.py): the real thinking
parser's events, printed by the terminal's printer into a recording rich console and drawn
by the page's TurnView, read the same, and a reflect line that states no numbers reads as
words, never "None"."""

from __future__ import annotations

import io
import re

from rich.console import Console

from seedchat.cli.chat import EventPrinter, reflect_line
from seedchat.events import Done, Reflect, ThinkingEnd
from seedchat.seed.thinking import ThinkingParser
from seedchat.ui.render import TurnView, reflect_marker
from seedchat.wording import done_footer, finished_title, reflect_note, reflect_summary

REFLECT_OPEN, REFLECT_CLOSE = "<seed:cot_budget_reflect>", "</seed:cot_budget_reflect>"
NO_NUMBERS = "Let me check how far along I am before I go on."
REPLY = (
    "<seed:think>First I add the units. "
    f"{REFLECT_OPEN}I have used 6 tokens, and there are 94 tokens remaining for use.{REFLECT_CLOSE}"
    f"Then the tens. {REFLECT_OPEN}{NO_NUMBERS}{REFLECT_CLOSE}"
    f"Done.</seed:think>It is 42."
)


def parsed(text: str) -> list:
    """The real parser's events for a reply streamed a few characters at a time, and the
    engine's statistics at the end."""
    ticks = iter(range(10_000))
    parser = ThinkingParser(clock=lambda: next(ticks) * 0.1)
    events = []
    for i in range(0, len(text), 5):
        events += parser.feed(text[i : i + 5])
    done = Done(
        "stop", prompt_tokens=40, evaluated_prompt_tokens=8, generated_tokens=60, seconds=2.5
    )
    return [*events, *parser.finish(), done]


def printed(events: list, budget: int) -> str:
    """What `seedchat chat` shows for ``events`` (a terminal's text, without colour)."""
    out = Console(file=io.StringIO(), record=True, width=200, color_system=None)
    printer = EventPrinter(as_json=False, budget=budget, out=out)
    for event in events:
        printer(event)
    return out.export_text()


def test_a_reflect_line_without_numbers_reads_as_words_in_the_terminal():
    events = parsed(REPLY)
    reflects = [e for e in events if isinstance(e, Reflect)]
    assert [(r.used, r.remaining) for r in reflects] == [(6, 94), (None, None)]
    shown = printed(events, budget=100)
    assert "None" not in shown
    assert "⏱ model: used 6, 94 left" in shown
    assert f"⏱ model: {NO_NUMBERS} (true count" in shown  # the model's own words
    assert "It is 42." in shown


def test_the_terminal_and_the_page_use_the_same_words_for_the_same_events():
    events = parsed(REPLY)
    shown = printed(events, budget=100)
    view = TurnView(budget=100)
    for event in events:
        view.apply(event)
    thinking = view.thinking_message()
    for reflect in (e for e in events if isinstance(e, Reflect)):
        who, text = reflect_note(reflect)
        assert f"**{who}:** {text}" in reflect_marker(reflect)  # the page's marker
        assert f"**{who}:** {text}" in thinking["content"]
        assert reflect_line(reflect) == f"⏱ {who}: {text}"  # the terminal's line
        assert reflect_line(reflect) in shown
    end = next(e for e in events if isinstance(e, ThinkingEnd))
    assert thinking["metadata"]["title"] == finished_title(end, 100)
    assert finished_title(end, 100) in shown
    assert done_footer(view.done) in shown  # the page's status bar line


def test_seedchats_own_cut_and_an_empty_report_read_the_same_everywhere():
    cut = Reflect(None, None, True, "I have exhausted…", true_count=100, injected=True)
    empty = Reflect(None, None, False, "  ", true_count=12)
    long = Reflect(None, None, False, "word " * 40, true_count=30)
    for event in (cut, empty, long):
        who, text = reflect_note(event)
        assert "None" not in text
        assert printed([event], budget=100).strip() == f"⟨{reflect_line(event)}⟩"
        assert reflect_marker(event).strip() == f"> **{who}:** {text}"
    assert reflect_note(cut) == ("seedchat", "budget reached at 100 tokens, thinking cut")
    assert reflect_summary(empty) == "no count stated"
    assert reflect_summary(long).endswith("…") and len(reflect_summary(long)) <= 60
    assert re.fullmatch(r"(word ){11}word…", reflect_summary(long))
