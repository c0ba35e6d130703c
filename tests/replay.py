"""A stand-in for a model's output in tests whose subject is not the model (the session,
the store): each ``generate`` call plays a scripted reply of typed events."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from seedchat.events import (
    AnswerDelta,
    Done,
    Event,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.seed.template import Message
from seedchat.seed.tool_blocks import new_call_id
from seedchat.settings import GenerationOptions


class Replay:
    """Plays one scripted reply per ``generate`` call (the model's output as data)."""

    def __init__(self, *replies: list[Event]) -> None:
        self.replies = list(replies)
        self.asked: list[list[Message]] = []

    def generate(
        self,
        messages: Sequence[Message] | str,
        options: GenerationOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        self.asked.append(list(messages))
        yield from self.replies.pop(0)

    def render(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        return "|".join(f"{m.role}:{m.content}" for m in messages)


def tool_call(name: str, arguments: dict[str, str]) -> ToolCall:
    """A call as an engine gives it: its id made where it was parsed."""
    return ToolCall(name, arguments, raw="<seed:tool_call>…</seed:tool_call>", id=new_call_id())


def answer(text: str, thinking: str = "") -> list[Event]:
    events: list[Event] = []
    if thinking:
        events += [ThinkingStart(), ThinkingDelta(thinking, 5), ThinkingEnd(5, 0.1)]
    return [*events, AnswerDelta(text), Done("stop", generated_tokens=9)]
