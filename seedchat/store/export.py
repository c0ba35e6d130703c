"""Take conversations out of the store and bring them back.

- JSON (:func:`export_json`, :func:`import_json`): lossless. Every message of every
  branch with its thinking, reflect reports, stats, status, settings and attached files
  (a question's ``attachments``, each whole: name, kind, size, sha256, PDF page offsets
  and text; version 2 of the format, which an older seedchat refuses rather than
  importing without the files), and each
  conversation's active branch and origin (an export made before origins existed
  imports as the app's), an answer's tool calls and each tool turn (role ``tool``, the
  call it answers and the tool's name; an export made before tool turns has none). Importing an export reproduces the conversations
  exactly (same ids, same times); conversations whose id is already in the store
  are skipped, so importing the same file twice adds nothing. The whole file is
  checked and written in one transaction: a malformed file raises
  :class:`StoreError` saying where, and imports nothing.
- Markdown (:func:`export_markdown`): for reading. The active branch of each
  conversation, thinking in collapsible ``<details>`` blocks, stats under answers, an
  answer's tool calls as their name and JSON arguments, each tool result in a fenced
  block under the tool's name; the preset its settings came from, if any (the JSON has it
  in ``settings.preset``); a question's attached files by name and size.

:func:`write_export` writes either to a file through a temporary file and a rename,
so an interrupted export never leaves a half-written file in place of a good one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedchat.documents.read import size_words
from seedchat.errors import StoreError
from seedchat.paths import save_text
from seedchat.settings import ChatSettings
from seedchat.store.attachments import (
    ATTACHMENT_FIELDS,
    attachment_from_dict,
    attachment_to_dict,
    link_attachments,
)
from seedchat.store.conversations import Store
from seedchat.store.records import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    ORIGINS,
    ROLES,
    STATUSES,
    Conversation,
    StoredMessage,
    insert_conversation,
    insert_message,
)

EXPORT_FORMAT = "seedchat-conversations"
EXPORT_VERSION = 2  # 2: a question's attached files


@dataclass
class ImportResult:
    imported: list[str]  # conversation ids added
    skipped: list[str]  # already in the store
    messages: int


def _all_ids(store: Store, ids: Iterable[str] | None, trash: bool) -> list[str]:
    return list(ids) if ids is not None else store.conversation_ids(trash=trash)


def conversation_to_dict(store: Store, conversation_id: str) -> dict[str, Any]:
    """One conversation and all its messages (every branch) as plain data."""
    conv = store.conversation(conversation_id)
    data = {k: getattr(conv, k) for k in CONVERSATION_COLUMNS}
    data["messages"] = [_message_dict(m) for m in store.messages(conversation_id)]
    return data


def _message_dict(m: StoredMessage) -> dict[str, Any]:
    out = {k: getattr(m, k) for k in MESSAGE_COLUMNS if k != "conversation_id"}
    if m.attachments:
        out["attachments"] = [attachment_to_dict(doc) for doc in m.attachments]
    return out


def export_json(
    store: Store, ids: Iterable[str] | None = None, trash: bool = False
) -> dict[str, Any]:
    """The conversations ``ids`` (default: all not in the trash; ``trash``: all) as a dict."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": time.time(),
        "conversations": [conversation_to_dict(store, cid) for cid in _all_ids(store, ids, trash)],
    }


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "?"


def _settings_line(record: dict[str, Any]) -> str:
    """The generation settings in words ("" when none were saved)."""
    if not record:
        return ""
    cs = ChatSettings.from_record(record)
    budget = {-1: "unlimited", 0: "0 (answer directly)"}.get(cs.budget, str(cs.budget))
    enforced = f" ({cs.enforcement})" if cs.budget > 0 else ""
    parts = [f"thinking budget {budget}{enforced}", f"temperature {cs.temperature}"]
    parts.append(f"top_p {cs.top_p}")
    if cs.top_k:
        parts.append(f"top_k {cs.top_k}")
    parts.append(f"max_tokens {cs.max_tokens}")
    if cs.seed is not None:
        parts.append(f"seed {cs.seed}")
    return ", ".join(parts)


def _stats_line(m: StoredMessage) -> str:
    s = m.stats
    parts = []
    if s.get("generated_tokens"):
        parts.append(f"{s['generated_tokens']} tokens")
    if s.get("tokens_per_second"):
        parts.append(f"{s['tokens_per_second']:.1f} tokens/s")
    if s.get("time_to_first_token") is not None:
        parts.append(f"first token {s['time_to_first_token']:.2f} s")
    if m.finish_reason:
        parts.append(m.finish_reason)
    if m.status != "complete":
        parts.append(m.status + (f": {m.error}" if m.error else ""))
    return " · ".join(parts)


def _thinking_markdown(m: StoredMessage) -> str:
    """Thinking text with the reflect reports put back where they came, as quotes."""
    out, pos = [], 0
    for r in sorted(m.reflects, key=lambda r: r.get("offset", 0)):
        at = r.get("offset", len(m.thinking))
        out.append(m.thinking[pos:at])
        note = f"true count {r.get('true_count')}" + (", by seedchat" if r.get("injected") else "")
        out.append(f"\n\n> ⏱ {r.get('raw', '')} ({note})\n\n")
        pos = at
    out.append(m.thinking[pos:])
    return "".join(out).strip()


def conversation_markdown(conv: Conversation) -> str:
    """One conversation's active branch as Markdown: a title, its details, the messages."""
    lines = [f"# {conv.title or 'Untitled conversation'}", ""]
    meta = [f"- id: `{conv.id}`", f"- created: {_when(conv.created_at)}"]
    if conv.origin == "api":
        meta.append("- from: the API")
    if conv.model:
        meta.append(f"- model: {conv.model}")
    chosen = ChatSettings.from_record(conv.settings)
    if chosen.preset:
        meta.append(f"- preset: {chosen.preset}")
    settings = _settings_line(conv.settings)
    if settings:
        meta.append(f"- settings: {settings}")
    system = chosen.system_prompt
    if system:
        meta.append(f"- system prompt: {system}")
    lines += [*meta, ""]
    for m in conv.messages:
        lines += _message_markdown(m)
    return "\n".join(lines).rstrip() + "\n"


def _tool_markdown(m: StoredMessage) -> list[str]:
    """A tool turn: the tool, and its result in a fence longer than any in it."""
    fence = "```"
    while fence in m.content:
        fence += "`"
    flags = [
        w for w, on in (("failed", m.stats.get("is_error")), ("cut", m.stats.get("cut"))) if on
    ]
    said = f" ({', '.join(flags)})" if flags else ""
    title = f"## Tool `{m.tool_name or '?'}`{said} · {_when(m.created_at)}"
    return [title, "", fence, m.content.rstrip("\n"), fence, ""]


def _message_markdown(m: StoredMessage) -> list[str]:
    if m.role == "tool":
        return _tool_markdown(m)
    title = {"user": "You", "assistant": "Assistant"}.get(m.role, m.role.title())
    branch = f" (version {m.sibling_index + 1} of {m.sibling_count})" if m.sibling_count > 1 else ""
    lines = [f"## {title}{branch} · {_when(m.created_at)}", ""]
    if m.thinking or m.reflects:
        tokens = f" ({m.thinking_tokens} tokens)" if m.thinking_tokens is not None else ""
        lines += [
            "<details>",
            f"<summary>Thinking{tokens}</summary>",
            "",
            _thinking_markdown(m),
            "",
            "</details>",
            "",
        ]
    for doc in m.attachments:
        lines += [f"Attached: `{doc.name}` ({size_words(doc.size)})", ""]
    if m.content:
        lines += [m.content.rstrip(), ""]
    for call in m.tool_calls:
        args = json.dumps(call.get("arguments", {}), ensure_ascii=False)
        lines += [f"Tool call: `{call.get('name')}` {args}", ""]
    stats = _stats_line(m) if m.role == "assistant" else ""
    if stats:
        lines += [f"*{stats}*", ""]
    return lines


def export_markdown(store: Store, ids: Iterable[str] | None = None) -> str:
    """The active branch of each conversation as Markdown, separated by rules."""
    parts = [
        conversation_markdown(store.get_conversation(cid)) for cid in _all_ids(store, ids, False)
    ]
    return "\n---\n\n".join(parts)


def write_export(
    store: Store, path: Path, fmt: str | None = None, ids: Iterable[str] | None = None
) -> Path:
    """Export to ``path`` atomically; ``fmt`` is "json" or "md" (default: from the suffix)."""
    path = Path(path)
    fmt = fmt or ("md" if path.suffix.lower() in (".md", ".markdown") else "json")
    if fmt == "json":
        text = json.dumps(export_json(store, ids), ensure_ascii=False, indent=1) + "\n"
    elif fmt in ("md", "markdown"):
        text = export_markdown(store, ids)
    else:
        raise StoreError(f"Unknown export format {fmt!r}.", hint="Use json or md.")
    hint = "Check the folder and the free disk space; nothing was overwritten."
    save_text(path, text, "Cannot write", hint, StoreError)
    return path


# -- import --------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "parent_id": (str, type(None)),
    "role": (str,),
    "content": (str,),
    "thinking": (str,),
    "reflects": (list,),
    "thinking_tokens": (int, type(None)),
    "tool_calls": (list,),
    "notices": (list,),
    "stats": (dict,),
    "finish_reason": (str, type(None)),
    "status": (str,),
    "error": (str, type(None)),
    "settings": (dict,),
    "model": (str, type(None)),
    "created_at": (int, float),
    "updated_at": (int, float),
    "title": (str,),
    "title_is_auto": (bool, int),
    "current_leaf": (str, type(None)),
    "deleted_at": (int, float, type(None)),
    "origin": (str,),
    "tool_call_id": (str, type(None)),
    "tool_name": (str, type(None)),
}
_REQUIRED_MESSAGE = ("id", "role", "content", "created_at")
_REQUIRED_CONVERSATION = ("id", "created_at", "messages")


class _Malformed(StoreError):
    pass


def _check_fields(where: str, data: Any, required: tuple[str, ...], allowed: Iterable[str]) -> None:
    if not isinstance(data, dict):
        raise _Malformed(f"{where} must be an object.")
    for key in required:
        if key not in data:
            raise _Malformed(f"{where} has no '{key}'.")
    for key, value in data.items():
        if key in ("messages", "attachments") or key not in allowed:
            continue
        types = _TYPES[key]
        bad_bool = isinstance(value, bool) and bool not in types
        if bad_bool or not isinstance(value, types):
            raise _Malformed(f"{where}.{key} has the wrong type ({type(value).__name__}).")


def _validate(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise _Malformed(
            f'It is not a seedchat conversations export (no "format": "{EXPORT_FORMAT}").'
        )
    if not isinstance(data.get("version"), int) or data["version"] > EXPORT_VERSION:
        raise _Malformed(f"Its version {data.get('version')!r} is not one this seedchat reads.")
    convs = data.get("conversations")
    if not isinstance(convs, list):
        raise _Malformed("'conversations' must be a list.")
    seen: set[str] = set()  # the conversation and message ids of the file so far
    for i, conv in enumerate(convs):
        _validate_conversation(f"conversations[{i}]", conv, seen)
    return convs


def _validate_conversation(where: str, conv: Any, seen: set[str]) -> None:
    _check_fields(where, conv, _REQUIRED_CONVERSATION, CONVERSATION_COLUMNS)
    if not isinstance(conv["messages"], list):
        raise _Malformed(f"{where}.messages must be a list.")
    ids: set[str] = set()
    for j, msg in enumerate(conv["messages"]):
        _validate_message(f"{where}.messages[{j}]", msg, ids, seen)
        ids.add(msg["id"])
    origin = conv.get("origin", "app")  # an export made before origins: the app's
    if origin not in ORIGINS:
        raise _Malformed(f"{where}.origin {origin!r} is not one of {', '.join(ORIGINS)}.")
    leaf = conv.get("current_leaf")
    if leaf is not None and leaf not in ids:
        raise _Malformed(f"{where}.current_leaf {leaf} is not one of its messages.")
    if conv["id"] in seen:
        raise _Malformed(f"{where}.id {conv['id']} appears twice.")
    seen.add(conv["id"])
    seen |= ids


def _validate_message(where: str, msg: Any, ids: set[str], seen: set[str]) -> None:
    """Check one message; ``ids``: the earlier messages of its conversation."""
    _check_fields(where, msg, _REQUIRED_MESSAGE, MESSAGE_COLUMNS)
    if msg["role"] not in ROLES:
        raise _Malformed(f"{where}.role {msg['role']!r} is not one of {', '.join(ROLES)}.")
    if msg.get("status", "complete") not in STATUSES:
        raise _Malformed(f"{where}.status {msg['status']!r} is not one of {', '.join(STATUSES)}.")
    if msg["id"] in ids or msg["id"] in seen:
        raise _Malformed(f"{where}.id {msg['id']} appears twice.")
    files = msg.get("attachments", [])
    if not isinstance(files, list):
        raise _Malformed(f"{where}.attachments must be a list.")
    for k, doc in enumerate(files):
        _validate_attachment(f"{where}.attachments[{k}]", doc)
    parent = msg.get("parent_id")
    if parent is not None and parent not in ids:
        raise _Malformed(
            f"{where}.parent_id {parent} is not an earlier message of its conversation."
        )


_ATTACHMENT_TYPES = {
    "name": str,
    "kind": str,
    "size": int,
    "sha256": str,
    "pages": list,
    "text": str,
}


def _validate_attachment(where: str, doc: Any) -> None:
    if not isinstance(doc, dict):
        raise _Malformed(f"{where} must be an object.")
    for key in ATTACHMENT_FIELDS:
        value = doc.get(key, [] if key == "pages" else None)
        if isinstance(value, bool) or not isinstance(value, _ATTACHMENT_TYPES[key]):
            raise _Malformed(f"{where}.{key} is missing or has the wrong type.")
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in doc.get("pages", [])):
        raise _Malformed(f"{where}.pages must be a list of whole numbers.")


def _load(source: Path | str | dict[str, Any]) -> tuple[str, Any]:
    """The data to import and how to name it in errors."""
    if isinstance(source, dict):
        return "the data", source
    path = Path(source)
    try:
        return str(path), json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StoreError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(
            f"{path} is not valid JSON ({exc}); nothing was imported.",
            hint="Import a file written by 'seedchat history export --format json'.",
        ) from exc


def import_json(store: Store, source: Path | str | dict[str, Any]) -> ImportResult:
    """Import a JSON export (a path or the parsed data) in one transaction."""
    name, data = _load(source)
    try:
        convs = _validate(data)
    except _Malformed as err:
        raise StoreError(
            f"{name} cannot be imported: {err.message} Nothing was imported.",
            hint="Import a file written by 'seedchat history export --format json'.",
        ) from None
    result = ImportResult([], [], 0)
    with store.db.write() as conn:
        for conv in convs:
            if conn.execute("SELECT 1 FROM conversations WHERE id = ?", [conv["id"]]).fetchone():
                result.skipped.append(conv["id"])
                continue
            result.messages += _insert_conversation(conn, name, conv)
            result.imported.append(conv["id"])
    return result


def _insert_conversation(conn: sqlite3.Connection, name: str, conv: dict[str, Any]) -> int:
    """Insert one validated conversation and its messages (inside the import's
    transaction); the number of messages."""
    clash = [
        m["id"]
        for m in conv["messages"]
        if conn.execute("SELECT 1 FROM messages WHERE id = ?", [m["id"]]).fetchone()
    ]
    if clash:
        raise StoreError(
            f"{name} cannot be imported: message {clash[0]} of conversation "
            f"{conv['id']} is already stored in another conversation. Nothing was imported."
        )
    record = Conversation(
        id=conv["id"],
        title=conv.get("title", ""),
        title_is_auto=bool(conv.get("title_is_auto", True)),
        model=conv.get("model"),
        settings=conv.get("settings", {}),
        current_leaf=conv.get("current_leaf"),
        created_at=conv["created_at"],
        updated_at=conv.get("updated_at", conv["created_at"]),
        deleted_at=conv.get("deleted_at"),
        origin=conv.get("origin", "app"),
    )
    insert_conversation(conn, record)
    for m in conv["messages"]:
        fields = {k: v for k, v in m.items() if k in MESSAGE_COLUMNS}
        fields.setdefault("updated_at", fields["created_at"])
        fields.setdefault("parent_id", None)
        fields["conversation_id"] = conv["id"]
        insert_message(conn, StoredMessage(**fields))
        files = [attachment_from_dict(doc) for doc in m.get("attachments", [])]
        link_attachments(conn, m["id"], files)
    return len(conv["messages"])
