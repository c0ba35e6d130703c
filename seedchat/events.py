"""Typed events: what the engine and the thinking parser produce, and the CLI, UI and store consume.

A generation is a stream of these dataclasses, in order::

    [Notice]* [Prefill]* [ThinkingStart (ThinkingDelta | Reflect)* ThinkingEnd] (AnswerDelta | ToolCall)* Done

A long prompt is evaluated in batches; each batch sends a :class:`Prefill` (tokens done of
the total, speed, time left), the last with ``done == total``.

With tools on (:mod:`seedchat.chat.tool_loop`) a turn is several such replies, each call of
a reply followed by its :class:`ToolRun` status changes and its :class:`ToolResult`::

    reply (ToolRun* ToolResult)+ reply … reply

Nothing downstream re-parses strings: thinking text, reflect reports and tool calls
arrive already separated. ``to_dict()`` gives a JSON-ready form with a ``type`` key
(``seedchat chat --json`` prints one per line).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Event:
    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class Notice(Event):
    """Something the user should know that is not an error (budget adjusted, turns dropped)."""

    text: str
    kind: str = "info"  # e.g. "budget", "context", "info"


@dataclass(frozen=True)
class RetrievalNotice(Notice):
    """An answer written from passages of the attached files, not the whole of them: its
    footer (:mod:`seedchat.documents.retrieval`). ``passages``: each one used, e.g.
    ``"report.pdf, page 3"``, in the files' order."""

    kind: str = "retrieval"
    passages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prefill(Event):
    """Progress of the prompt's evaluation, sent after each batch of a long prompt."""

    done: int  # prompt tokens evaluated so far in this reply (monotone, ends at total)
    total: int  # prompt tokens this reply has to evaluate (after prefix reuse / restore)
    tokens_per_second: float = 0.0  # evaluation speed so far
    seconds_left: float | None = None  # estimated from the speed so far (None: not known yet)


@dataclass(frozen=True)
class ThinkingStart(Event):
    """A think block opened (by the model, or pre-filled by the template)."""

    by_template: bool = False
    approximate: bool = False  # token counts are estimated (a remote server's chunks)


@dataclass(frozen=True)
class ThinkingDelta(Event):
    """Thinking text (reflect lines excluded: those come as :class:`Reflect`)."""

    text: str
    tokens: int = 0  # true count of thinking tokens so far, after this delta


@dataclass(frozen=True)
class Reflect(Event):
    """The model's own budget report, ``<seed:cot_budget_reflect>…</seed:cot_budget_reflect>``."""

    used: int | None  # tokens the model says it used, None when not stated
    remaining: int | None  # tokens it says are left
    exhausted: bool  # "I have exhausted my token budget…"
    raw: str  # the text inside the tags
    true_count: int = 0  # the true thinking-token count when the report ended
    injected: bool = False  # written by seedchat's hard budget, not by the model


@dataclass(frozen=True)
class ThinkingEnd(Event):
    """The think block closed (or the stream ended inside it)."""

    tokens: int  # true number of thinking tokens, counted from the opening tag
    seconds: float
    forced: bool = False  # closed by seedchat's hard budget enforcement
    unclosed: bool = False  # the stream ended before the model closed it


@dataclass(frozen=True)
class AnswerDelta(Event):
    """Answer text, never containing a tag."""

    text: str


@dataclass(frozen=True)
class ToolCall(Event):
    """A parsed ``<seed:tool_call>`` block."""

    name: str
    arguments: dict[str, str] = field(default_factory=dict)
    raw: str = ""
    id: str = ""  # the call's id, made where the call was parsed (seed/tool_blocks.py)


ToolStatus = Literal["waiting", "running", "done", "failed", "declined"]


@dataclass(frozen=True)
class ToolMedia:
    """A part of a tool's result that is not text, for a front end to show: an ``image``
    (base64 ``data`` when it is small enough to show, else only named), ``audio``, an
    embedded ``resource`` or a ``resource_link`` (named by ``uri`` and ``mime_type``)."""

    kind: str
    mime_type: str | None = None
    data: str | None = None  # base64; None when too large to show (``size`` says how large)
    uri: str | None = None
    name: str | None = None
    size: int = 0  # bytes of the decoded data, when known


@dataclass(frozen=True)
class ToolRun(Event):
    """A tool call's state, sent at each change: ``waiting`` (for the user's approval),
    ``running``, then ``done``, ``failed`` or ``declined``."""

    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)  # typed by the tool's schema
    status: ToolStatus = "waiting"
    seconds: float = 0.0  # how long it ran (set when it ended)
    preview: str = ""  # the start of its result, for a card or a line
    is_error: bool = False
    server: str | None = None  # the MCP server the tool is from, if any
    media: tuple[ToolMedia, ...] = ()  # its images and resources (set when it ended)


@dataclass(frozen=True)
class ToolResult(Event):
    """A tool turn: the text that goes back to the model for the call ``call_id`` (a
    result, an error, or that the user declined it); saved as a ``tool`` message."""

    call_id: str
    name: str
    content: str
    is_error: bool = False
    cut: bool = False  # the result was longer than ``tool_result_max_tokens`` and was cut
    seconds: float = 0.0  # how long the call ran (0: it did not run)
    server: str | None = None  # the MCP server the tool is from, if any
    media: tuple[ToolMedia, ...] = ()  # its images and resources (saved with the turn)


FinishReason = Literal["stop", "length", "cancelled", "error"]


@dataclass(frozen=True)
class Done(Event):
    """The generation ended; its statistics."""

    finish_reason: FinishReason
    prompt_tokens: int = 0  # tokens in the prompt
    evaluated_prompt_tokens: int = 0  # of those, how many had to be evaluated (prefix reuse)
    generated_tokens: int = 0
    thinking_tokens: int = 0
    seconds: float = 0.0
    time_to_first_token: float | None = None
    tokens_per_second: float | None = None  # decode rate
    prompt_tokens_per_second: float | None = None  # prefill rate
    drafted_tokens: int = 0  # lookup decoding: tokens proposed from the context
    accepted_tokens: int = 0  # of those, the ones the model took
    restored_prompt_tokens: int = 0  # prompt tokens put back from a saved KV state, not evaluated


#: The reply's own text as it streams (the thinking's and the answer's).
TEXT = (ThinkingDelta, AnswerDelta)


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :meth:`Event.to_dict` output (used by stores and tests)."""
    kinds = {
        cls.__name__: cls
        for cls in (
            Notice,
            RetrievalNotice,
            Prefill,
            ThinkingStart,
            ThinkingDelta,
            Reflect,
            ThinkingEnd,
            AnswerDelta,
            ToolCall,
            ToolRun,
            ToolResult,
            Done,
        )
    }
    data = dict(data)
    cls = kinds[data.pop("type")]
    if cls is RetrievalNotice:
        data["passages"] = tuple(data.get("passages", ()))
    return cls(**data)
