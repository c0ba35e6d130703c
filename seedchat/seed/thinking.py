"""The thinking parser: an incremental state machine from text deltas to typed events.

Feed it each decoded piece of model output with :meth:`ThinkingParser.feed`; it returns
the events of :mod:`seedchat.events` that the piece completes. Tags may be split
anywhere across pieces: only the shortest tail that could still become a tag is held
back, everything else is emitted at once. Each call costs O(len(piece)).

Rules (each covered by tests):

- ``<seed:think>``/``<think>`` opens thinking, ``</seed:think>``/``</think>`` closes it.
  A parser made with ``start_in_thinking=True`` (the prompt ended inside an open think
  block) starts there and emits ``ThinkingStart(by_template=True)`` first;
  ``start_in_reflect=True`` also starts inside an open reflect tag (the budget-0 pre-fill
  ``<seed:think><seed:cot_budget_reflect>``). :func:`initial_state` reads both from a prompt.
- ``<seed:cot_budget_reflect>…</seed:cot_budget_reflect>`` inside thinking becomes one
  :class:`Reflect`; its text never appears in :class:`ThinkingDelta`.
- ``<seed:tool_call>…</seed:tool_call>`` outside thinking becomes a :class:`ToolCall`, its
  id made here (:mod:`seedchat.seed.tool_blocks`, which also says how text quoted into a
  call stays in its argument); a malformed one is given to the answer as text (without
  tags) with a :class:`Notice`. A parser made with ``marked=True`` is fed by an engine
  that marks the model's own special tool-call tokens (``feed(tag, special=True)``): only
  those open and close a call, and the tags in text pieces are text. Without marks, a
  call is known for sure only at the end of the reply (a closing tag may have been
  quoted), so the calls and the text after the first one come at :meth:`finish`; so the
  number of calls seen never goes down while a reply streams.
  Inside thinking the tool-call tags are thinking text, verbatim: a call the model drafts
  or quotes while it thinks ("the format is ``<seed:tool_call>``…") is never a call, as
  in vLLM's ``seed_oss`` parsers, and an opening tag left unclosed there cannot swallow
  the end of thinking or the answer.
- The true thinking-token count: a piece's ``tokens`` count as thinking when the parser
  is inside the think block as the piece begins. So the token that opens the block is
  not counted and the token that closes it is; text injected by seedchat
  (``injected=True``) is never counted.
- Nothing else that looks like one of our tags reaches answer or thinking text: a stray close
  tag after thinking ended (the "forced cut" leak), a second open tag after the answer
  began, ``<seed:eos>``/``<seed:bos>``/``<seed:pad>`` are dropped (with a Notice for the
  think tags). Other ``<`` text (``a < b``, ``<div>``) passes through unchanged.
- Leading newlines of the thinking and of the answer are dropped once, at their start.
- At :meth:`finish`, held-back text is flushed as text, an open think block ends with
  ``ThinkingEnd(unclosed=True)``, an open reflect becomes a Reflect, and an unclosed tool
  call is parsed if it names a function (a parameter left open is dropped), else given to
  the answer as text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from enum import Enum

from seedchat.events import (
    AnswerDelta,
    Event,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
)
from seedchat.seed.tags import (
    CONTROL_TOKENS,
    REFLECT_CLOSE,
    REFLECT_OPEN,
    THINK_CLOSE_TAGS,
    THINK_OPEN_TAGS,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
)
from seedchat.seed.tool_blocks import Block, parse_block, split_blocks


class State(Enum):
    ANSWER = "answer"
    THINKING = "thinking"
    REFLECT = "reflect"  # inside a reflect tag, inside thinking
    TOOL = "tool"  # inside a tool call


# The tags recognised in each state. Inside a reflect or a tool call, only its closing
# tag (and, for a reflect left open, the end of thinking) matters: their bodies are raw.
_TAGS: dict[State, tuple[str, ...]] = {
    State.ANSWER: (
        *THINK_OPEN_TAGS,
        *THINK_CLOSE_TAGS,
        TOOL_CALL_OPEN,
        REFLECT_OPEN,
        REFLECT_CLOSE,
        *CONTROL_TOKENS,
    ),
    State.THINKING: (
        *THINK_OPEN_TAGS,
        *THINK_CLOSE_TAGS,
        REFLECT_OPEN,
        REFLECT_CLOSE,
        *CONTROL_TOKENS,
    ),  # no tool-call tags: inside thinking they are text
    State.REFLECT: (REFLECT_CLOSE, *THINK_CLOSE_TAGS, *CONTROL_TOKENS),
    State.TOOL: CONTROL_TOKENS,  # its end: a marked closer, or found at the finish
}
#: In a marked parser, a tool-call tag in text is text (see ThinkingParser).
_MARKED_ANSWER_TAGS = tuple(t for t in _TAGS[State.ANSWER] if t != TOOL_CALL_OPEN)
_TOOL_TAGS = (TOOL_CALL_OPEN, TOOL_CALL_CLOSE)
_CALL_STATES = (State.ANSWER, State.TOOL)  # where a marked tool-call tag acts

_USED = re.compile(r"used\s+(\d+)\s+tokens?", re.I)
_REMAINING = re.compile(r"(\d+)\s+tokens?\s+(?:remaining|left)", re.I)
_EXHAUSTED = re.compile(r"exhausted|budget is 0|用完|耗尽", re.I)


def parse_reflect(raw: str) -> tuple[int | None, int | None, bool]:
    """(used, remaining, exhausted) from a reflect report's text; numbers None when absent."""
    used = _USED.search(raw)
    remaining = _REMAINING.search(raw)
    exhausted = bool(_EXHAUSTED.search(raw))
    return (
        int(used.group(1)) if used else None,
        0 if exhausted and not remaining else (int(remaining.group(1)) if remaining else None),
        exhausted,
    )


def initial_state(prompt: str) -> tuple[bool, bool]:
    """(start_in_thinking, start_in_reflect) for a rendered prompt.

    True when the prompt's last think tag is an unclosed opening one (the template
    opened the block for the model), and likewise for a reflect tag inside it.
    """
    open_at = max(prompt.rfind(t) for t in THINK_OPEN_TAGS)
    close_at = max(prompt.rfind(t) for t in THINK_CLOSE_TAGS)
    if open_at < 0 or close_at > open_at:
        return False, False
    tail = prompt[open_at:]
    return True, tail.rfind(REFLECT_OPEN) > tail.rfind(REFLECT_CLOSE)


class ThinkingParser:
    """Turns model output, piece by piece, into typed events (see the module docstring)."""

    def __init__(
        self,
        start_in_thinking: bool = False,
        clock: Callable[[], float] = time.monotonic,
        start_in_reflect: bool = False,
        marked: bool = False,
    ) -> None:
        self._clock = clock
        self._marked = marked  # the engine marks its special tool-call tokens
        self._tags = dict(_TAGS)
        if marked:
            self._tags[State.ANSWER] = _MARKED_ANSWER_TAGS
        self._state = State.ANSWER
        self._held = ""  # a tail that may still become a tag
        self._body: list[str] = []  # raw text of the open reflect or tool call
        self._strip_newlines = True  # drop leading newlines at the start of a block
        self._started_at: float | None = None
        self._answer_started = False
        self._pending: list[Event] = []
        self._injected = False
        self._reflect_outside = False  # the open reflect tag is outside thinking
        self.thinking_tokens = 0
        self.thinking_done = False
        self.last_reflect: Reflect | None = None
        if start_in_thinking or start_in_reflect:
            self._open_thinking(by_template=True)
            if start_in_reflect:
                self._state = State.REFLECT

    # -- public API -----------------------------------------------------------------

    @property
    def in_reflect(self) -> bool:
        """Inside a budget report of the think block (its closing tag not yet seen)."""
        return self._state is State.REFLECT and not self._reflect_outside

    @property
    def in_thinking(self) -> bool:
        state = self._state
        return state is State.THINKING or (state is State.REFLECT and not self._reflect_outside)

    def feed(
        self, text: str, tokens: int = 1, injected: bool = False, special: bool = False
    ) -> list[Event]:
        """Parse one decoded piece that stands for ``tokens`` generated tokens;
        ``special``: the piece is one special token of the model's (a marked parser reads
        only such tool-call tags as tags)."""
        if self.in_thinking and not injected:
            self.thinking_tokens += tokens
        self._injected = injected
        events, self._pending = self._pending, []
        if special and self._marked and text in _TOOL_TAGS and self._state in _CALL_STATES:
            self._emit_text(self._held, events)
            self._held = ""
            self._on_marked_tool_tag(text, events)
            return events
        if not self._held and "<" not in text:  # the common case: plain text
            self._emit_text(text, events)
            return events
        self._scan(self._held + text, events)
        return events

    def finish(self) -> list[Event]:
        """End of stream: flush held text and close what is still open."""
        events, self._pending = self._pending, []
        held, self._held = self._held, ""
        if self._state is State.TOOL:
            self._body.append(held)
            self._end_tool(events, closed=False)  # may leave text in a report open
            held = ""
        if self._state is State.REFLECT:
            self._body.append(held)
            self._end_reflect(events)
        else:
            self._emit_text(held, events)
        if self.in_thinking:
            self._close_thinking(events, unclosed=True)
        return events

    # -- scanning -------------------------------------------------------------------

    def _scan(self, buf: str, events: list[Event]) -> None:
        self._held = ""
        i, n = 0, len(buf)
        while i < n:
            lt = buf.find("<", i)
            if lt < 0:
                self._emit_text(buf[i:], events)
                return
            if lt > i:
                self._emit_text(buf[i:lt], events)
            tags = self._tags[self._state]
            tag = next((t for t in tags if buf.startswith(t, lt)), None)
            if tag is not None:
                self._on_tag(tag, events)
                i = lt + len(tag)
                continue
            rest = buf[lt:]
            if any(t.startswith(rest) for t in tags):
                self._held = rest  # may still become a tag: wait for more
                return
            self._emit_text("<", events)
            i = lt + 1

    def _emit_text(self, text: str, events: list[Event]) -> None:
        if not text:
            return
        state = self._state
        if state is State.REFLECT or state is State.TOOL:
            self._body.append(text)
            return
        if self._strip_newlines:
            text = text.lstrip("\n")
            if not text:
                return
            self._strip_newlines = False
        if state is State.THINKING:
            if events and type(events[-1]) is ThinkingDelta:
                text = events.pop().text + text
            events.append(ThinkingDelta(text, tokens=self.thinking_tokens))
        else:
            self._answer_started = True
            if events and type(events[-1]) is AnswerDelta:
                text = events.pop().text + text
            events.append(AnswerDelta(text))

    # -- tags -----------------------------------------------------------------------

    def _on_tag(self, tag: str, events: list[Event]) -> None:
        state = self._state
        if tag in CONTROL_TOKENS:
            return
        if tag == TOOL_CALL_OPEN:  # only outside thinking, unmarked (see _TAGS)
            self._state, self._body = State.TOOL, []
        elif state is State.REFLECT:
            inside = not self._reflect_outside
            self._end_reflect(events)
            if tag in THINK_CLOSE_TAGS and inside:  # a report left open, then thinking ended
                self._close_thinking(events)
        elif tag in THINK_OPEN_TAGS:
            if state is State.THINKING:
                if not self._strip_newlines:  # not just the model repeating the template's tag
                    events.append(Notice("The model opened a think block twice; ignored."))
            elif self.thinking_done or self._answer_started:
                events.append(Notice("A think tag after the answer began was ignored."))
            else:
                self._open_thinking(by_template=False, events=events)
        elif tag in THINK_CLOSE_TAGS:
            if state is State.THINKING:
                self._close_thinking(events)
            elif not self.thinking_done:
                events.append(Notice("A closing think tag without an open block was ignored."))
            # else: a repeated close after thinking ended (e.g. after a forced cut): drop
        elif tag == REFLECT_OPEN:
            # A report outside thinking (e.g. the model's own "exhausted" line after a
            # forced cut) is swallowed whole: it is not part of the answer.
            self._reflect_outside = state is not State.THINKING
            self._state, self._body = State.REFLECT, []
        # REFLECT_CLOSE outside a reflect: a stray tag, dropped

    def _open_thinking(self, by_template: bool, events: list[Event] | None = None) -> None:
        self._state = State.THINKING
        self._started_at = self._clock()
        self._strip_newlines = True
        event = ThinkingStart(by_template=by_template)
        if events is None:
            self._pending.append(event)
        else:
            events.append(event)

    def _close_thinking(self, events: list[Event], unclosed: bool = False) -> None:
        started = self._started_at if self._started_at is not None else self._clock()
        events.append(
            ThinkingEnd(
                tokens=self.thinking_tokens,
                seconds=max(0.0, self._clock() - started),
                forced=self._injected and not unclosed,
                unclosed=unclosed,
            )
        )
        self._state = State.ANSWER
        self.thinking_done = True
        self._strip_newlines = True

    def _end_reflect(self, events: list[Event]) -> None:
        raw = "".join(self._body).strip()
        self._body = []
        outside, self._reflect_outside = self._reflect_outside, False
        self._state = State.ANSWER if outside else State.THINKING
        if outside:
            events.append(Notice("A budget report outside the think block was dropped."))
            return
        used, remaining, exhausted = parse_reflect(raw)
        reflect = Reflect(
            used=used,
            remaining=remaining,
            exhausted=exhausted,
            raw=raw,
            true_count=self.thinking_tokens,
            injected=self._injected,
        )
        self.last_reflect = reflect
        events.append(reflect)

    def _on_marked_tool_tag(self, tag: str, events: list[Event]) -> None:
        """A tool-call tag that was the model's special token (a marked parser)."""
        if self._state is State.TOOL:
            # a closer ends the call; an opener before it starts the next one
            self._end_tool(events, closed=tag == TOOL_CALL_CLOSE)
        if tag == TOOL_CALL_OPEN:
            self._state, self._body = State.TOOL, []
        # a closer outside a call: a stray control token, dropped

    def _end_tool(self, events: list[Event], closed: bool) -> None:
        """The open call ends (a marked parser), or the reply does: then the text since
        the first opening tag is split into its calls and the text after them."""
        raw = "".join(self._body)
        self._body = []
        self._state = State.ANSWER
        if self._marked:
            self._emit_call(Block(raw, closed), events)
            return
        for item in split_blocks(raw):
            if isinstance(item, Block):
                self._emit_call(item, events)
            elif item:
                self._scan(item, events)
                self._emit_text(self._held, events)
                self._held = ""

    def _emit_call(self, block: Block, events: list[Event]) -> None:
        call = parse_block(block.body)
        if call is not None:
            events.append(call)
            if not block.closed:
                events.append(Notice("The model's tool call was not closed; parsed what it had."))
            return
        events.append(Notice("A malformed tool call was shown as text."))
        self._emit_text(block.body.strip("\n"), events)
