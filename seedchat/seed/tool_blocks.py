"""Seed's ``<seed:tool_call>`` blocks, as text, into :class:`~seedchat.events.ToolCall`s.

A block, as Seed-OSS writes it (docs/seed-format.md, "Tool calls")::

    <seed:tool_call>
    <function=get_weather>
    <parameter=location>Beijing</parameter>
    </function>
    </seed:tool_call>

A value is any text, and a model may quote a document into one, closing tags and all:
vLLM's "copied closer" case is a value holding
``</parameter></function></seed:tool_call><seed:tool_call><function=drain_node>…``, which
must stay in its value and never become a call of its own. Two rules decide where things
end (docs/seed-format.md, "Text quoted into a call"):

- **Where a block ends.** Where the engine knows which tokens were the model's own
  special ``<seed:tool_call>``/``</seed:tool_call>`` (the local engine: text copied from a
  document was tokenized as text), only those open and close a block, and everything
  between is one body for :func:`parse_block`. Where only text is known (a model on a
  server), :func:`split_blocks` reads everything after an opening tag, to the end of the
  reply: a ``</seed:tool_call>`` after which more ``</parameter>`` (or ``</function>``)
  close than open was quoted text, and the value goes on past it. (Text alone cannot
  tell a quoted document that ends inside a call of its own, which the model's closing
  tags then complete, from two calls the model wrote: only the tokens can.)
- **Where a value ends** (:func:`parse_block`): at the first ``</parameter>`` followed by
  the opening tag of a parameter the call has not given yet, else at the call's last
  ``</parameter>``. Quoted text can so never add a call nor replace an argument already
  given; at most a quoted ``</parameter><parameter=NEW>`` splits a value in two.

Each call gets its id here, where it is parsed (:func:`new_call_id`, OpenAI's form); the
APIs' ``tool_calls``, the tool loop, the saved calls and results and the page's cards all
use that id.
"""

from __future__ import annotations

import bisect
import itertools
import re
import uuid
from dataclasses import dataclass

from seedchat.events import ToolCall
from seedchat.seed.tags import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

PARAMETER_CLOSE = "</parameter>"
_FUNCTION = re.compile(r"<function=([^<>\n]+)>")
_PARAMETER = re.compile(r"<parameter=([^<>\n]+)>")
_NEXT_PARAMETER = re.compile(r"\s*<parameter=([^<>\n]+)>")
# The tags that nest inside a block: (parameter or function opening, closing).
_NESTING = re.compile(r"<(parameter|function)=|</(parameter|function)>")


def new_call_id() -> str:
    """A fresh tool-call id, in OpenAI's form (``call_`` and 24 hex digits)."""
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class Block:
    """The text between a block's tags (``closed``: its closing tag was seen)."""

    body: str
    closed: bool


def parse_block(body: str) -> ToolCall | None:
    """The call in a block's ``body`` (the text between its tags), with a new id; None
    when it names no function. A parameter left open is dropped."""
    function = _FUNCTION.search(body)
    if function is None:
        return None
    inner = body[function.end() :]
    closes = [m.start() for m in re.finditer(PARAMETER_CLOSE, inner)]
    arguments: dict[str, str] = {}
    at = 0
    while (opening := _PARAMETER.search(inner, at)) is not None:
        key = opening.group(1).strip()
        end = _value_end(inner, opening.end(), closes, {*arguments, key})
        if end is None:
            break
        arguments[key] = inner[opening.end() : end].removeprefix("\n").removesuffix("\n")
        at = end + len(PARAMETER_CLOSE)
    return ToolCall(function.group(1).strip(), arguments, raw=body, id=new_call_id())


def _value_end(inner: str, start: int, closes: list[int], given: set[str]) -> int | None:
    """Where the value starting at ``start`` ends: the first ``</parameter>`` that a new
    parameter follows, else the last one (None: there is none)."""
    last = None
    for close in closes[bisect.bisect_left(closes, start) :]:
        last = close
        following = _NEXT_PARAMETER.match(inner, close + len(PARAMETER_CLOSE))
        if following is not None and following.group(1).strip() not in given:
            return close
    return last


def split_blocks(text: str) -> list[Block | str]:
    """``text``, which starts inside a block (after its opening tag) and runs to the end
    of the reply, as its blocks and the text between and after them, in order; a closing
    tag that was quoted (module docstring) stays inside its block's body."""
    quoted = _quoted_closes(text)
    items: list[Block | str] = []
    start = at = 0
    while True:
        close = text.find(TOOL_CALL_CLOSE, at)
        if close >= 0 and quoted(close):
            at = close + len(TOOL_CALL_CLOSE)
            continue
        if close < 0:
            items.append(Block(text[start:], closed=False))
            return items
        items.append(Block(text[start:close], closed=True))
        after = close + len(TOOL_CALL_CLOSE)
        opening = text.find(TOOL_CALL_OPEN, after)
        if opening < 0:
            items.append(text[after:])
            return items
        items.append(text[after:opening])
        start = at = opening + len(TOOL_CALL_OPEN)


def _quoted_closes(text: str):
    """A test of a position in ``text``: whether more ``</parameter>`` or ``</function>``
    close than open after it (then a closing tag there was quoted). Linear in ``text``:
    the running depths after each nesting tag and their minimums to the end."""
    marks = [
        (m.start(), 1 if m.group(1) else -1, m.group(1) or m.group(2))
        for m in _NESTING.finditer(text)
    ]
    where = [at for at, _, _ in marks]
    depths = {"parameter": [0], "function": [0]}
    for _, step, kind in marks:
        for name, run in depths.items():
            run.append(run[-1] + (step if name == kind else 0))
    lowest = {
        name: list(itertools.accumulate(reversed(run), min))[::-1] for name, run in depths.items()
    }

    def quoted(position: int) -> bool:
        i = bisect.bisect_left(where, position)  # nesting tags before the position
        return any(lowest[name][i] < run[i] for name, run in depths.items())

    return quoted
