"""Tool calls drawn in the answer: one card per call, and the view of a turn that calls
tools. Pure functions, no gradio.

A card (:func:`card_message`) is a collapsible block of the chat (a message with
``metadata``, as the thinking block is): its title says the tool, its server, its status
(waiting for approval, running, done, failed, declined) and how long it ran; inside are
the arguments (JSON), the start of the result, its images (shown, when small enough) and
resources (named with their address and type). While a call waits for the user, the card
is open and ends with three links, **Allow once · Always allow · Deny**
(``#tool-once-ID`` …, :data:`APPROVAL_LINK`), that the page's script turns into a
decision (:mod:`seedchat.ui.chat_pane`, :mod:`seedchat.ui.page_tools`).

Everything a tool or the model wrote (arguments, results, names) is shown as text: in a
code block whose fence is longer than any run of backticks in it, or escaped.

:class:`LoopView` follows a turn of the tool loop, event by event: each reply of the
model is a :class:`~seedchat.ui.render.TurnView` of its own (its thinking block and
answer), each call a card after the reply that made it. :func:`saved_card` draws a
saved tool turn as the live card was drawn.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from seedchat.events import (
    AnswerDelta,
    Done,
    Event,
    ThinkingDelta,
    ThinkingStart,
    ToolCall,
    ToolMedia,
    ToolResult,
    ToolRun,
)
from seedchat.seed.budget import UNLIMITED
from seedchat.ui.render import ChatMessage, TurnView, shown_message

#: The start of a waiting card's links: ``#tool-once-ID``, ``#tool-always-ID``, ``#tool-deny-ID``.
APPROVAL_LINK = "#tool-"
DECLINED = "The user declined this call."  # the loop's words (seedchat.chat.tool_loop.DECLINED)
STATUS_WORDS = {
    "waiting": "waiting for approval",
    "running": "running",
    "done": "done",
    "failed": "failed",
    "declined": "declined",
}
ICONS = {"waiting": "‖", "running": "⋯", "done": "✓", "failed": "✗", "declined": "⊘"}
RESULT_CHARS = 2000  # the most of a result a card shows (the model reads all of it)


@dataclass
class ToolCard:
    """What a card shows of one call."""

    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    status: str = "waiting"
    server: str | None = None
    seconds: float = 0.0
    preview: str = ""
    result: str = ""  # the tool turn's text, once it came
    cut: bool = False
    media: tuple[ToolMedia, ...] = ()

    @classmethod
    def of(cls, run: ToolRun) -> ToolCard:
        card = cls(run.call_id, run.name)
        card.update(run)
        return card

    def update(self, run: ToolRun) -> None:
        self.arguments = dict(run.arguments)
        self.status = run.status
        self.server = run.server or self.server
        self.seconds = run.seconds or self.seconds
        self.preview = run.preview or self.preview
        self.media = run.media or self.media

    def take(self, result: ToolResult) -> None:
        self.result, self.cut = result.content, result.cut
        self.media = result.media or self.media
        self.server = result.server or self.server


def escape_markdown(text: str) -> str:
    """``text`` shown as itself in Markdown (no links, emphasis or HTML)."""
    return "".join("\\" + c if c in "\\`*_[]<>#|!$&~" else c for c in text)


def code_block(text: str, language: str = "") -> str:
    """``text`` as a fenced code block no line of it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def card_title(card: ToolCard) -> str:
    where = f" · {card.server}" if card.server else ""
    took = f" · {card.seconds:.2f} s" if card.seconds and card.status in ("done", "failed") else ""
    words = STATUS_WORDS.get(card.status, card.status)
    return escape_markdown(f"{ICONS.get(card.status, '•')} {card.name}{where} — {words}{took}")


def approval_links(call_id: str) -> str:
    links = [("once", "Allow once"), ("always", "Always allow"), ("deny", "Deny")]
    return " · ".join(f"[{label}]({APPROVAL_LINK}{what}-{call_id})" for what, label in links)


def _shown_image(part: ToolMedia) -> str | None:
    """An image's Markdown (a data URI), when it is small enough and is an image."""
    image_type = re.fullmatch(r"image/[\w.+-]+", part.mime_type or "")
    if part.kind != "image" or not part.data or not image_type:
        return None
    if not re.fullmatch(r"[A-Za-z0-9+/=\s]+", part.data):
        return None
    return f"![tool image](data:{part.mime_type};base64,{''.join(part.data.split())})"


def media_lines(media: tuple[ToolMedia, ...]) -> list[str]:
    """Images shown (a data URI), everything else named by its address and type."""
    lines = []
    for part in media:
        image = _shown_image(part)
        if image is not None:
            lines.append(image)
            continue
        what = part.kind.replace("_", " ")
        label = escape_markdown(part.name or part.uri or "")
        mime = f" ({escape_markdown(part.mime_type)})" if part.mime_type else ""
        size = f", {part.size / 1024:.0f} KiB, too large to show" if part.kind == "image" else ""
        uri = f" — {escape_markdown(part.uri)}" if part.uri and part.name else ""
        lines.append(" ".join(f"- {what} {label}{uri}{mime}{size}".split()))
    return lines


def card_message(card: ToolCard) -> ChatMessage:
    """The card as a chat message (see the module doc)."""
    where = escape_markdown(card.server) if card.server else "built in"
    body = [f"**Tool** {escape_markdown(card.name)} · **server** {where}"]
    arguments = json.dumps(card.arguments, ensure_ascii=False, indent=2)
    body += ["**Arguments**", code_block(arguments, "json")]
    if card.status == "waiting":
        body.append(f"Run this tool? {approval_links(card.call_id)}")
    shown = card.result or card.preview
    if shown:
        more = len(shown) > RESULT_CHARS
        text = shown[:RESULT_CHARS] + ("…" if more else "")
        label = "**Result**" + (" (cut for the model)" if card.cut else "")
        body += [label, code_block(text)]
    body += media_lines(card.media)
    busy = card.status in ("waiting", "running")
    metadata = {"title": card_title(card), "status": "pending" if busy else "done"}
    return shown_message({"role": "assistant", "content": "\n\n".join(body), "metadata": metadata})


def saved_card(
    content: str, stats: dict[str, Any] | None, name: str, arguments: dict[str, Any], call_id: str
) -> ChatMessage:
    """A saved tool turn's card (its stats hold the server, duration and media)."""
    stats = stats or {}
    declined = content == DECLINED
    failed = bool(stats.get("is_error"))
    media = tuple(
        ToolMedia(**{k: v for k, v in m.items() if k in ToolMedia.__dataclass_fields__})
        for m in stats.get("media") or ()
        if isinstance(m, dict)
    )
    card = ToolCard(
        call_id,
        name,
        dict(arguments),
        "declined" if declined else "failed" if failed else "done",
        stats.get("server"),
        float(stats.get("seconds") or 0.0),
        result=content,
        cut=bool(stats.get("cut")),
        media=media,
    )
    return card_message(card)


#: The events that start a new reply's view after a card or a finished reply.
_REPLY_STARTS = (ThinkingStart, ThinkingDelta, AnswerDelta, ToolCall)


@dataclass
class LoopView:
    """The chat messages of a turn that may call tools (see the module doc); the same
    surface as :class:`~seedchat.ui.render.TurnView` (``apply``, ``messages``, ``done``,
    ``fail``)."""

    budget: int = UNLIMITED
    parts: list[TurnView | ToolCard] = field(default_factory=list)

    @property
    def done(self) -> Done | None:
        """The last reply's end (None while a reply or a call is under way)."""
        last = self.parts[-1] if self.parts else None
        return last.done if isinstance(last, TurnView) else None

    @property
    def waiting(self) -> list[str]:
        """The calls waiting for the user's decision."""
        return [p.call_id for p in self.parts if isinstance(p, ToolCard) and p.status == "waiting"]

    def _reply(self, starts: bool) -> TurnView:
        last = self.parts[-1] if self.parts else None
        if isinstance(last, TurnView) and not (starts and last.done is not None):
            return last
        view = TurnView(budget=self.budget)
        self.parts.append(view)
        return view

    def _card(self, call_id: str) -> ToolCard | None:
        return next(
            (p for p in self.parts if isinstance(p, ToolCard) and p.call_id == call_id), None
        )

    def apply(self, event: Event) -> None:
        if isinstance(event, ToolRun):
            card = self._card(event.call_id)
            if card is None:
                self.parts.append(ToolCard.of(event))
            else:
                card.update(event)
        elif isinstance(event, ToolResult):
            card = self._card(event.call_id)
            if card is not None:
                card.take(event)
        elif isinstance(event, Done):
            view = self._reply(False)
            if view.done is None:
                view.apply(event)
            else:  # a stop after the last reply ended (while a call waited or ran)
                self.parts.append(replace(TurnView(budget=self.budget), done=event))
        else:
            self._reply(isinstance(event, _REPLY_STARTS)).apply(event)

    def fail(self, message: str) -> None:
        self._reply(False).fail(message)

    def messages(self) -> list[ChatMessage]:
        out: list[ChatMessage] = []
        for part in self.parts:
            if isinstance(part, ToolCard):
                out.append(card_message(part))
            elif part.answer or part.done is None or part.error or part is self.parts[-1]:
                out += part.messages()
            else:  # a reply that only called tools: its thinking and notices, no "(no answer)"
                out += [m for m in part.messages() if m.get("metadata") or "ℹ️" in m["content"]]
        return out or [{"role": "assistant", "content": "…"}]
