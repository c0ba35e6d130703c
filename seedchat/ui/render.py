"""Turn generation events into chat messages: pure functions, no gradio.

A :class:`TurnView` follows one assistant turn. Feed it the events of
:mod:`seedchat.events` with :meth:`TurnView.apply`; :meth:`TurnView.messages` gives the
Gradio "messages" dicts for the turn:

- a thinking message (``metadata`` with ``title`` and ``status``) that Gradio draws as a
  collapsible block: open (``pending``) while the model thinks, its title showing the
  live true count against the budget and the model's latest self-report; collapsed
  (``done``) with duration and token count when thinking ends;
- the answer message, streamed;
- notices, as small closed blocks after the answer.

Budget 0 never shows a thinking block, and neither does an empty think block (the
budget-0 pre-fill). Nothing here re-parses model text: the counts and reports come
from the events, and the words are :mod:`seedchat.wording`'s (``seedchat chat`` prints
the same).

A message with siblings in the store (a regenerated answer, an edited question) ends
with its branch control, ``‹ 2 / 3 ›`` (:func:`branch_control`): its arrows are links
to ``#branch-prev-ID`` / ``#branch-next-ID`` that the page turns into a switch
(:data:`BRANCH_LINK`, :mod:`seedchat.ui.chat_pane`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seedchat.documents.read import Document, ocr_words, size_words
from seedchat.events import (
    AnswerDelta,
    Done,
    Event,
    Notice,
    Prefill,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.seed.budget import UNLIMITED
from seedchat.ui.outside_images import shown_text
from seedchat.wording import finished_title, prefill_line, reflect_note, thinking_title

#: A message of the page's chat (Gradio's "messages" format).
ChatMessage = dict[str, Any]

#: The start of a branch control's links: ``#branch-prev-ID``, ``#branch-next-ID``.
BRANCH_LINK = "#branch-"


def shown_message(message: ChatMessage) -> ChatMessage:
    """``message`` as the page may show it: its outside images made into links
    (:func:`seedchat.ui.outside_images.shown_text`). Every builder of the chat's messages
    ends with it (a turn's thinking, answer and notices; a question; a tool's card), so
    whatever reaches the chat, streamed, saved, imported or switched to, went through it."""
    content = message.get("content")
    if not isinstance(content, str):
        return message
    return {**message, "content": shown_text(content)}


def reflect_marker(event: Reflect) -> str:
    """The Markdown that stands for a reflect line inside the thinking text."""
    who, text = reflect_note(event)
    return f"\n\n> **{who}:** {text}\n\n"


@dataclass
class TurnView:
    """The chat messages of one assistant turn, updated event by event."""

    budget: int = UNLIMITED
    thinking_text: str = ""
    thinking_tokens: int = 0
    thinking_open: bool = False
    thinking_end: ThinkingEnd | None = None
    last_reflect: Reflect | None = None
    answer: str = ""
    notices: list[str] = field(default_factory=list)
    done: Done | None = None
    error: str | None = None
    approximate: bool = False  # counts estimated from a remote server's chunks
    prefill: Prefill | None = None  # the latest progress of reading a long prompt
    _started: bool = False

    def apply(self, event: Event) -> None:
        if isinstance(event, Prefill):
            self.prefill = event
        elif isinstance(event, ThinkingStart):
            self._started = True
            self.thinking_open = True
            self.approximate = event.approximate
        elif isinstance(event, ThinkingDelta):
            self._started = True
            self.thinking_open = True
            self.thinking_text += event.text
            self.thinking_tokens = max(self.thinking_tokens, event.tokens)
        elif isinstance(event, Reflect):
            self.last_reflect = event
            self.thinking_tokens = max(self.thinking_tokens, event.true_count)
            self.thinking_text += reflect_marker(event)
        elif isinstance(event, ThinkingEnd):
            self.thinking_open = False
            self.thinking_end = event
            self.thinking_tokens = event.tokens
        elif isinstance(event, AnswerDelta):
            self.answer += event.text
        elif isinstance(event, ToolCall):
            args = ", ".join(f"{k}={v!r}" for k, v in event.arguments.items())
            self.answer += f"\n\n`tool call: {event.name}({args})`\n\n"
        elif isinstance(event, Notice):
            self.notices.append(event.text)
        elif isinstance(event, Done):
            self.done = event
            if self.thinking_open:  # defensive: a stream that ended inside thinking
                self.thinking_open = False

    def fail(self, message: str) -> None:
        """Record an error that ended the turn (shown in the answer)."""
        self.error = message

    @property
    def shows_thinking(self) -> bool:
        if self.budget == 0 or not self._started:
            return False
        return bool(self.thinking_open or self.thinking_text.strip() or self.thinking_tokens)

    @property
    def reading(self) -> bool:
        """Whether the model is still reading a long prompt (nothing written yet)."""
        written = self._started or self.answer or self.done is not None or self.error
        return self.prefill is not None and not written

    def thinking_message(self) -> ChatMessage | None:
        if self.reading:  # the prompt's progress, where the thinking block will be
            title = prefill_line(self.prefill)
            return {
                "role": "assistant",
                "content": "…",
                "metadata": {"title": title, "status": "pending"},
            }
        if not self.shows_thinking:
            return None
        if self.thinking_end is not None and not self.thinking_open:
            title = finished_title(self.thinking_end, self.budget, self.approximate)
            if self.done is not None and self.done.finish_reason == "cancelled":
                title = title.replace(" · unfinished", "") + " · stopped"
            # the title says how long it took: no "duration" (gradio would show it again)
            metadata: dict[str, Any] = {"title": title, "status": "done"}
        elif self.thinking_open:
            metadata = {
                "title": thinking_title(
                    self.thinking_tokens, self.budget, self.last_reflect, self.approximate
                ),
                "status": "pending",
            }
        else:
            metadata = {
                "title": f"Thinking · {self.thinking_tokens} tokens · stopped",
                "status": "done",
            }
        return {
            "role": "assistant",
            "content": self.thinking_text.strip() or "…",
            "metadata": metadata,
        }

    def answer_message(self) -> ChatMessage | None:
        text = self.answer
        if self.done is not None and self.done.finish_reason == "cancelled":
            text = (text.rstrip() + "\n\n*— stopped*").lstrip()
        if self.error:
            text = (text.rstrip() + f"\n\n**Error:** {self.error}").lstrip()
        if not text and self.done is None:
            if self.thinking_open or self.shows_thinking or self.reading:
                return None
            return {"role": "assistant", "content": "…"}
        return {"role": "assistant", "content": text or "*(no answer)*"}

    def messages(self) -> list[ChatMessage]:
        out: list[ChatMessage] = []
        thinking = self.thinking_message()
        if thinking is not None:
            out.append(thinking)
        answer = self.answer_message()
        if answer is not None:
            out.append(answer)
        counts: dict[str, int] = {}
        for text in self.notices:  # the same notice many times shows once, with a count
            counts[text] = counts.get(text, 0) + 1
        for text, n in counts.items():
            times = f" (×{n})" if n > 1 else ""
            out.append({"role": "assistant", "content": f"ℹ️ *{text}*{times}"})
        return [shown_message(message) for message in out]


def render_events(events: list[Event], budget: int = UNLIMITED) -> list[ChatMessage]:
    """The messages of a whole turn from its events (for saved turns and tests)."""
    view = TurnView(budget=budget)
    for event in events:
        view.apply(event)
    return view.messages()


#: Markdown's and LaTeX's own characters, written as character references in a file's
#: name (a backslash would make ``\\(`` or ``\\[`` a LaTeX delimiter in the chat).
_MARKUP_CHARS = set("\\`*_[]#|~!()$<>&{}")


def file_chip(document: Document) -> str:
    """One attached file on its message: ``notes.md · 12,410 bytes``, a paperclip drawn
    before it by the page's CSS (``seedchat.ui.theme``: no emoji, which a machine without an
    emoji font shows as an empty box). The name is the
    user's (untrusted): every character of HTML, Markdown or LaTeX in it is a character
    reference, so it shows as text and never as markup."""
    name = "".join(f"&#{ord(c)};" if c in _MARKUP_CHARS else c for c in document.name)
    ocr = ocr_words(document)
    ocr = f" · {ocr}" if ocr else ""
    return f'<span class="file-chip">{name} · {size_words(document.size)}{ocr}</span>'


def user_message(text: str, files: Sequence[Document] = ()) -> ChatMessage:
    """A question on the page: its files' chips, then its text."""
    if not files:
        return shown_message({"role": "user", "content": text})
    chips = " ".join(file_chip(doc) for doc in files)
    return shown_message({"role": "user", "content": f"{chips}\n\n{text}" if text else chips})


def branch_control(message_id: str, index: int, count: int, label: str = "") -> str:
    """``‹ 2 / 3 ›`` for the message ``message_id``, the ``index``-th (from 0) of its
    ``count`` siblings, then ``label`` (an answer's budget); an arrow with nowhere to go is
    plain text."""
    back = f"[‹]({BRANCH_LINK}prev-{message_id})" if index > 0 else "‹"
    forth = f"[›]({BRANCH_LINK}next-{message_id})" if index < count - 1 else "›"
    return f"{back} {index + 1} / {count} {forth}" + (f" · {label}" if label else "")


def with_branch_control(
    message: ChatMessage, message_id: str, index: int, count: int, label: str = ""
) -> None:
    """Add the branch control to the end of ``message`` when it has siblings."""
    if count > 1:
        control = branch_control(message_id, index, count, label)
        message["content"] = f"{message['content'].rstrip()}\n\n{control}"
