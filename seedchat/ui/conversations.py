"""Saved conversations for the page, without gradio.

The page keeps, per browser tab, an :class:`~seedchat.chat.session.OpenThread`: which saved
conversation is on screen and which of its messages is the end of the branch shown. Each
turn is saved as it happens by :class:`seedchat.chat.session.ChatSession`.

This module turns stored records into what the page shows and back:

- :func:`open_conversation`: a saved conversation → chat messages, the turns the model
  is given (:func:`seedchat.chat.session.turns_of`, as ``seedchat chat`` resumes them), the
  settings it was last used with;
- :func:`saved_turn_events`: a stored answer → the events that rebuild its thinking
  block and answer exactly as they were drawn while streaming (one renderer for both);
- a saved tool turn → its card (:func:`seedchat.ui.tool_cards.saved_card`);
- :func:`switch_branch`: a branch control's arrow followed (a sibling answer or question
  and the newest messages under it become the store's active branch);
- :func:`conversation_choices` / :func:`search_choices`: the sidebar's list.

A message with siblings (regenerated answers, edited questions) shows its branch
control, ``‹ 2 / 3 ›`` (:func:`seedchat.ui.render.branch_control`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

from seedchat.chat.session import OpenThread, Turn, turns_of
from seedchat.errors import StoreError
from seedchat.events import (
    AnswerDelta,
    Done,
    Event,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.settings import ChatSettings
from seedchat.store import Conversation, Store, StoredMessage
from seedchat.ui.render import (
    BRANCH_LINK,
    ChatMessage,
    TurnView,
    user_message,
    with_branch_control,
)
from seedchat.ui.tool_cards import saved_card
from seedchat.wording import budget_label

PAGE_SIZE = 200  # conversations listed in the sidebar
PARTIAL_NOTE = "*— interrupted: this answer was saved while it was being written*"

Chat = list[ChatMessage]


@dataclass(frozen=True)
class OpenedConversation:
    thread: OpenThread
    chat: Chat
    turns: list[Turn]  # with each turn's stored message id (to edit or regenerate)
    settings: dict[str, Any]  # the stored record (ChatSettings.from_record reads it)
    title: str


def saved_turn_events(msg: StoredMessage) -> list[Event]:
    """Events that redraw a stored answer as it looked when it was generated."""
    events: list[Event] = []
    stats = msg.stats or {}
    if msg.thinking or msg.reflects or msg.thinking_tokens:
        by_template = bool(stats.get("thinking_by_template"))
        approximate = bool(stats.get("thinking_approximate"))
        events.append(ThinkingStart(by_template=by_template, approximate=approximate))
        pos = 0
        tokens = msg.thinking_tokens or 0
        known = {f.name for f in fields(Reflect)}
        for report in sorted(msg.reflects, key=lambda r: r.get("offset", 0)):
            offset = int(report.get("offset", 0))
            if offset > pos:
                events.append(ThinkingDelta(msg.thinking[pos:offset], tokens))
                pos = offset
            events.append(Reflect(**{k: v for k, v in report.items() if k in known}))
        if pos < len(msg.thinking):
            events.append(ThinkingDelta(msg.thinking[pos:], tokens))
        if "thinking_seconds" in stats:
            events.append(
                ThinkingEnd(
                    tokens=tokens,
                    seconds=float(stats.get("thinking_seconds") or 0.0),
                    forced=bool(stats.get("thinking_forced")),
                    unclosed=bool(stats.get("thinking_unclosed")),
                )
            )
    if msg.content:
        events.append(AnswerDelta(msg.content))
    for call in msg.tool_calls:
        arguments = dict(call.get("arguments") or {})
        events.append(ToolCall(call.get("name", "?"), arguments, id=str(call.get("id") or "")))
    for notice in msg.notices:
        events.append(Notice(str(notice.get("text", "")), str(notice.get("kind", "info"))))
    if msg.status != "partial":
        known = {f.name for f in fields(Done)}
        done = {k: v for k, v in stats.items() if k in known}
        done["finish_reason"] = msg.finish_reason or (
            "cancelled" if msg.status == "cancelled" else "stop"
        )
        events.append(Done(**done))
    return events


def saved_turn_messages(msg: StoredMessage) -> Chat:
    """The chat messages of one stored answer (thinking block, answer, notices)."""
    view = TurnView(budget=ChatSettings.from_record(msg.settings).budget)
    for event in saved_turn_events(msg):
        view.apply(event)
    if msg.status == "error":
        view.fail(msg.error or "the answer failed")
    if msg.status != "partial":
        return view.messages()
    view.thinking_open = False  # the block stays open only while a model is writing it
    out = view.messages()
    answer = next((m for m in out if not m.get("metadata")), None)
    if answer is not None and answer["content"] != "…":
        answer["content"] = answer["content"].rstrip() + "\n\n" + PARTIAL_NOTE
    else:
        out = [m for m in out if m.get("metadata")]
        out.append({"role": "assistant", "content": PARTIAL_NOTE})
    return out


def open_conversation(store: Store, conversation_id: str) -> OpenedConversation:
    """A saved conversation's active branch, ready for the page."""
    conv = store.get_conversation(conversation_id)
    return _opened(conv, store)


def switch_branch(store: Store, conversation_id: str, link: str) -> OpenedConversation:
    """The conversation after following a branch control's arrow: ``link`` is its target
    without the ``#`` (``branch-prev-ID`` or ``branch-next-ID``); the sibling before or
    after the message ID, down to its newest message, becomes the active branch (so a
    reload, ``seedchat history show`` and the next question follow it)."""
    direction, _, message_id = link.removeprefix(BRANCH_LINK.lstrip("#")).partition("-")
    step = {"prev": -1, "next": 1}.get(direction)
    siblings = store.siblings(message_id) if step is not None else []
    ids = [m.id for m in siblings]
    if message_id not in ids or siblings[0].conversation_id != conversation_id:
        raise StoreError(
            "That branch is not part of the conversation on screen.",
            hint="Reload the page to see the conversation as it is saved.",
        )
    target = ids[max(0, min(len(ids) - 1, ids.index(message_id) + step))]
    return _opened(store.switch_branch(target), store)


def _opened(conv: Conversation, store: Store) -> OpenedConversation:
    chat: Chat = []
    calls: dict[str, dict[str, Any]] = {}  # the calls of the answers so far, by id
    for msg in conv.messages:
        if msg.role == "user":
            shown = [user_message(msg.content, msg.attachments)]
        elif msg.role == "assistant":
            shown = saved_turn_messages(msg)
            calls.update({str(c.get("id")): c for c in msg.tool_calls or ()})
        elif msg.role == "tool":  # its card, as it was drawn live
            call = calls.get(msg.tool_call_id or "", {})
            arguments = call.get("arguments") or {}
            name = msg.tool_name or str(call.get("name", "?"))
            chat.append(saved_card(msg.content, msg.stats, name, arguments, msg.tool_call_id))
            continue
        else:
            continue
        # the control goes on the question, or on the answer (after its thinking block)
        answer = next((m for m in shown if not m.get("metadata")), shown[-1])
        label = budget_of_sibling(store, msg) if msg.role == "assistant" else ""
        with_branch_control(answer, msg.id, msg.sibling_index, msg.sibling_count, label)
        chat.extend(shown)
    leaf = conv.messages[-1].id if conv.messages else None
    return OpenedConversation(
        thread=OpenThread(conv.id, leaf),
        chat=chat,
        turns=turns_of(conv.messages),
        settings=dict(conv.settings or {}),
        title=conv.title or "New conversation",
    )


def budget_of_sibling(store: Store, msg: StoredMessage) -> str:
    """ "budget: 512 tokens" for an answer whose siblings were made at other budgets
    ("Answer at budgets…"), so the branch control says which is which; else ""."""
    if msg.sibling_count < 2:
        return ""
    budgets = {ChatSettings.from_record(m.settings).budget for m in store.siblings(msg.id)}
    own = ChatSettings.from_record(msg.settings).budget
    return f"budget: {budget_label(own)}" if len(budgets) > 1 else ""


def newest_conversation(store: Store) -> str | None:
    page = store.list_conversations(limit=1)
    return page[0].id if page else None


def _ago(ts: float, now: float) -> str:
    seconds = max(0.0, now - ts)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def origin_label(title: str, origin: str) -> str:
    """A conversation's title as the sidebar lists it: ``API · title`` when it came from
    the HTTP API."""
    title = title or "New conversation"
    return f"API · {title}" if origin == "api" else title


def conversation_choices(store: Store, now: float | None = None) -> list[tuple[str, str]]:
    """(label, id) of the saved conversations, newest first."""
    now = time.time() if now is None else now
    return [
        (f"{origin_label(c.title, c.origin)} · {_ago(c.updated_at, now)}", c.id)
        for c in store.list_conversations(limit=PAGE_SIZE)
    ]


def search_choices(store: Store, query: str) -> tuple[list[tuple[str, str]], str]:
    """Conversations matching ``query`` as (label, id), and their snippets as Markdown."""
    hits = store.search(query, limit=50, highlight=(_OPEN, _CLOSE))
    choices: list[tuple[str, str]] = []
    lines: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.conversation_id in seen:
            continue
        seen.add(hit.conversation_id)
        title = origin_label(hit.title, hit.origin)
        choices.append((title, hit.conversation_id))
        snippet = _escape(" ".join((hit.snippet or "").split()))
        snippet = snippet.replace(_OPEN, "**").replace(_CLOSE, "**")
        where = " (thinking)" if hit.field == "thinking" else ""
        line = f"- **{_escape(title)}**{where}"
        lines.append(f"{line} — {snippet}" if snippet and hit.field != "title" else line)
    if not choices:
        return [], f"Nothing found for “{_escape(query)}”."
    found = f"{len(choices)} conversation{'s' if len(choices) != 1 else ''} found"
    return choices, found + ":\n\n" + "\n".join(lines)


_OPEN, _CLOSE = "\x02", "\x03"  # match marks that survive escaping


def _escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)
