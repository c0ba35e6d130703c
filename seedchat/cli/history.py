"""`seedchat history`: list, show, search, rename, delete, export and import saved conversations.

Every action is a function of :mod:`seedchat.store` (the store and its export/import);
this module only parses arguments and prints with rich. Conversation ids may be
shortened to their first characters (``list`` shows 8).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from seedchat.cli.console import console, err_console
from seedchat.documents.read import describe
from seedchat.errors import StoreError
from seedchat.paths import get_paths
from seedchat.store import (
    TRASH_SECONDS,
    Store,
    conversation_markdown,
    import_json,
    move_aside,
    write_export,
)
from seedchat.wording import tool_call_text

_MARK = ("\x02", "\x03")  # highlight markers, turned into rich styles after escaping


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def _origin(origin: str) -> str:
    """Where a conversation came from, for the list's "from" column."""
    return "[magenta]API[/]" if origin == "api" else "[dim]app[/]"


def _open(args: argparse.Namespace) -> Store:
    return Store(Path(args.database) if args.database else None)


def cmd_list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        rows = store.list_conversations(
            limit=args.limit, offset=(args.page - 1) * args.limit, trash=args.trash
        )
        total = store.count_conversations(trash=args.trash)
    if args.json:
        console.print_json(json.dumps([r.__dict__ for r in rows], ensure_ascii=False))
        return 0
    if not rows:
        console.print("The trash is empty." if args.trash else "No saved conversations yet.")
        return 0
    table = Table(box=None, header_style="bold")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("deleted" if args.trash else "updated", no_wrap=True)
    table.add_column("msgs", justify="right")
    table.add_column("from", no_wrap=True)
    table.add_column("model", style="dim")
    table.add_column("title")
    for r in rows:
        when = r.deleted_at if args.trash else r.updated_at
        table.add_row(
            r.id[:8],
            _when(when),
            str(r.message_count),
            _origin(r.origin),
            escape(r.model or ""),
            escape(r.title),
        )
    console.print(table)
    pages = max(1, -(-total // args.limit))
    console.print(f"[dim]page {args.page} of {pages} · {total} conversations[/]")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _open(args) as store:
        conv = store.get_conversation(store.resolve_id(args.id))
    if args.markdown:
        console.print(conversation_markdown(conv), markup=False, highlight=False)
        return 0
    deleted = " [red](in the trash)[/]" if conv.deleted_at else ""
    console.print(f"[bold]{escape(conv.title or 'Untitled')}[/]{deleted}")
    source = " · from the API" if conv.origin == "api" else ""
    console.print(
        f"[dim]{conv.id} · {escape(conv.model or 'no model')} · {_when(conv.created_at)}{source}[/]"
    )
    for m in conv.messages:
        branch = f" {m.sibling_index + 1}/{m.sibling_count}" if m.sibling_count > 1 else ""
        label = {"user": "[bold green]You[/]", "assistant": "[bold blue]Assistant[/]"}.get(
            m.role, m.role
        )
        if m.role == "tool":
            label = f"[bold magenta]Tool {escape(m.tool_name or '?')}[/]"
        console.print(f"\n{label}[dim]{branch} · {_when(m.created_at)} · {m.id[:8]}[/]")
        if m.thinking and not args.no_thinking:
            tokens = f" ({m.thinking_tokens} tokens)" if m.thinking_tokens is not None else ""
            console.print(f"[dim italic]Thinking{tokens}:\n{escape(m.thinking.strip())}[/]")
            for r in m.reflects:
                console.print(
                    f"[dim]  ⏱ {escape(r.get('raw', ''))} (true {r.get('true_count')})[/]"
                )
        for doc in m.attachments:
            console.print(f"[magenta]📎 {escape(describe(doc))}[/]")
        console.print(escape(m.content))
        for call in m.tool_calls:
            text = tool_call_text(call.get("name", "?"), call.get("arguments") or {})
            console.print(f"[magenta]⚙ {escape(text)}[/]")
        if m.status != "complete":
            console.print(f"[yellow]({m.status}{': ' + escape(m.error) if m.error else ''})[/]")
        if m.role == "assistant" and m.stats.get("generated_tokens"):
            s = m.stats
            rate = f" · {s['tokens_per_second']:.1f} tok/s" if s.get("tokens_per_second") else ""
            console.print(f"[dim]{s['generated_tokens']} tokens{rate}[/]")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    query = " ".join(args.query)
    with _open(args) as store:
        hits = store.search(query, limit=args.limit, highlight=_MARK)
    if not hits:
        console.print(f"No conversation matches {escape(query)!r}.")
        return 0
    for h in hits:
        snippet = escape(h.snippet).replace(_MARK[0], "[bold yellow]").replace(_MARK[1], "[/]")
        where = h.field if h.field == "title" else f"{h.role} {h.field}".replace(" content", "")
        console.print(
            f"[cyan]{h.conversation_id[:8]}[/] [bold]{escape(h.title)}[/] [dim]({where})[/]"
        )
        console.print(f"  {snippet}")
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    with _open(args) as store:
        cid = store.resolve_id(args.id)
        store.rename(cid, " ".join(args.title))
        console.print(f"Renamed {cid[:8]} to {escape(store.get_conversation(cid).title)!r}.")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _open(args) as store:
        cid = store.resolve_id(args.id)
        if args.undo:
            store.restore(cid)
            console.print(f"Restored {cid[:8]} from the trash.")
        else:
            store.delete(cid)
            days = TRASH_SECONDS // 86400
            console.print(
                f"Moved {cid[:8]} to the trash; it is deleted for good after {days} days. "
                f"Undo with 'seedchat history delete --undo {cid[:8]}'."
            )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    args.undo = True
    return cmd_delete(args)


def cmd_export(args: argparse.Namespace) -> int:
    with _open(args) as store:
        ids = [store.resolve_id(i) for i in args.ids] if args.ids else None
        path = write_export(store, Path(args.output), fmt=args.format, ids=ids)
    console.print(f"Exported to {path}.")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with _open(args) as store:
        result = import_json(store, Path(args.file))
    skipped = f", {len(result.skipped)} already saved (skipped)" if result.skipped else ""
    console.print(
        f"Imported {len(result.imported)} conversations ({result.messages} messages){skipped}."
    )
    return 0


def cmd_move_aside(args: argparse.Namespace) -> int:
    path = Path(args.database) if args.database else get_paths().database
    if not path.exists():
        raise StoreError(f"There is no database at {path}.")
    try:
        Store(path).close()
    except StoreError as err:
        err_console.print(f"[yellow]{escape(err.message)}[/]")
    else:
        if not args.force:
            raise StoreError(
                f"The database {path} opens fine; it was not moved.",
                hint="Add --force to move it aside anyway.",
            )
    target = move_aside(path)
    console.print(f"Moved {path} to {target}; seedchat starts a fresh database next time.")
    return 0


def register(sub) -> None:
    parser = sub.add_parser("history", help="List, search and export saved conversations")
    parser.add_argument("--database", help=argparse.SUPPRESS)  # tests and recovery
    verbs = parser.add_subparsers(dest="history_command", metavar="ACTION", required=True)

    p = verbs.add_parser("list", help="list conversations, newest first")
    p.add_argument("--limit", type=int, default=20, help="conversations per page (20)")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--trash", action="store_true", help="list the trash instead")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_list)

    p = verbs.add_parser("show", help="print a conversation (its active branch)")
    p.add_argument("id")
    p.add_argument("--no-thinking", action="store_true", help="leave the thinking out")
    p.add_argument("--markdown", action="store_true", help="print it as Markdown")
    p.set_defaults(func=cmd_show)

    p = verbs.add_parser("search", help="full-text search (English, Chinese, …)")
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_search)

    p = verbs.add_parser("rename", help="give a conversation a title")
    p.add_argument("id")
    p.add_argument("title", nargs="+")
    p.set_defaults(func=cmd_rename)

    p = verbs.add_parser(
        "delete", help=f"move to the trash (purged after {TRASH_SECONDS // 86400} days)"
    )
    p.add_argument("id")
    p.add_argument("--undo", action="store_true", help="take it back out of the trash")
    p.set_defaults(func=cmd_delete)

    p = verbs.add_parser("restore", help="take a conversation back out of the trash")
    p.add_argument("id")
    p.set_defaults(func=cmd_restore)

    p = verbs.add_parser("export", help="write conversations to a Markdown or JSON file")
    p.add_argument("ids", nargs="*", help="conversations (default: all)")
    p.add_argument("-o", "--output", required=True, help="file to write (replaced atomically)")
    p.add_argument(
        "--format", choices=("md", "json"), help="default: from the file name (.md), else json"
    )
    p.set_defaults(func=cmd_export)

    p = verbs.add_parser("import", help="import a JSON export (all or nothing)")
    p.add_argument("file")
    p.set_defaults(func=cmd_import)

    p = verbs.add_parser(
        "move-aside", help="rename a damaged database so that a fresh one can start"
    )
    p.add_argument("--force", action="store_true", help="move it even if it opens")
    p.set_defaults(func=cmd_move_aside)
