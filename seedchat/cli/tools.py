"""`seedchat tools`: the MCP servers in ``mcp.json`` — list, add, remove, enable, disable,
import from Claude Desktop / LM Studio / Jan, and call a tool by hand.

Every action is a function of :mod:`seedchat.tools`; this module parses arguments and
prints. ``list`` starts the enabled servers (as the app would) to show their tools, each
with its prompt cost counted with the model's own template and tokenizer.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from seedchat.cli.console import console, err_console, note
from seedchat.engine.host import count_text
from seedchat.errors import ModelFileError, SeedchatError
from seedchat.models import DEMO_DIR, resolve_model
from seedchat.seed.prompt_tokens import CHARS_PER_TOKEN
from seedchat.seed.template import seed_template
from seedchat.settings import load_settings
from seedchat.tools.approvals import is_always_allowed
from seedchat.tools.builtin.config import BUILTINS, BuiltinConfig
from seedchat.tools.builtin.runner import make_tool, tool_infos
from seedchat.tools.config import (
    ToolConfigError,
    ToolsConfig,
    parse_entry,
    peer_config_files,
    read_peer_file,
)
from seedchat.tools.cost import ToolCosts, VocabCounter, tool_costs
from seedchat.tools.results import ToolInfo
from seedchat.tools.servers import ToolHost

_STATE_STYLE = {"ready": "green", "failed": "red", "crashed": "red", "off": "dim"}


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise ToolConfigError(f"{what} {value!r} must be written KEY=VALUE.")
        out[key] = val
    return out


def _costs(tools: list[ToolInfo], model: str | None) -> ToolCosts:
    """The tools' prompt cost with ``model`` (else the model seedchat would load)."""
    try:
        path = resolve_model(model, load_settings())
    except ModelFileError:
        if model:
            raise
        basis = (
            f"estimated: no model here to count with (about {CHARS_PER_TOKEN} characters a token)"
        )
        return tool_costs(tools, seed_template(), count_text(None), basis)
    with VocabCounter(path) as counter:
        template = counter.template or seed_template()
        basis = f"counted with {path.name}'s tokenizer and chat template"
        if path.parent == DEMO_DIR:
            basis += "; the demo's vocabulary is tiny, a real Seed model needs fewer"
        return tool_costs(tools, template, counter.tokens, basis)


def _builtins_json(builtins: BuiltinConfig, infos: list[ToolInfo], costs: ToolCosts) -> list:
    return [
        {
            "name": name,
            "builtin": True,
            "state": "on" if name in builtins.enabled else "off",
            "folders": [str(f) for f in builtins.folders] if name == "files" else None,
            "tools": [
                {
                    "name": t.name,
                    "description": t.description,
                    "tokens": costs.per_tool.get((name, t.name)),
                    "always_allowed": is_always_allowed(t.name),
                }
                for t in infos
                if t.server == name
            ],
        }
        for name in BUILTINS
    ]


def _print_builtins(builtins: BuiltinConfig, infos: list[ToolInfo], costs: ToolCosts) -> None:
    for name, about in BUILTINS.items():
        on = name in builtins.enabled
        state = "[green]on[/]" if on else "[dim]off[/]"
        console.print(f"[bold]{name}[/] [magenta]built-in[/] {state} [dim]{escape(about)}[/]")
        if name == "files" and builtins.folders:
            console.print(f"  [dim]folders: {escape(', '.join(map(str, builtins.folders)))}[/]")
        if name == "fetch" and not on:
            console.print("  [dim]off by default: reads public web pages when switched on[/]")
        for t in (t for t in infos if t.server == name):
            always = " [yellow]always allowed[/]" if is_always_allowed(t.name) else ""
            tokens = costs.per_tool.get((name, t.name))
            cost = f" {tokens} tokens" if tokens is not None else ""
            console.print(f"  [cyan]{escape(t.name)}[/]{always}{cost}")


def cmd_list(args: argparse.Namespace) -> int:
    config = ToolsConfig.load()
    builtins = BuiltinConfig.load()
    infos = [info for name in BUILTINS for info in tool_infos(name)]
    with ToolHost(config, start_timeout=args.timeout) as host:
        tools = host.list_tools()
        statuses = host.statuses()
    offered = [t for t in infos if t.server in builtins.enabled] + tools
    costs = _costs(offered, args.model)
    if args.json:
        console.print_json(
            json.dumps(
                {
                    "file": str(config.path),
                    "builtin": _builtins_json(builtins, infos, costs),
                    "servers": [
                        {
                            "name": s.name,
                            "state": s.state,
                            "target": s.target,
                            "error": s.error,
                            "tools": [
                                {
                                    "name": t.name,
                                    "description": t.description,
                                    "tokens": costs.per_tool.get((s.name, t.name)),
                                    "always_allowed": is_always_allowed(t.name, s.name),
                                }
                                for t in s.tools
                            ],
                        }
                        for s in statuses
                    ],
                    "tokens": costs.total,
                    "tokens_basis": costs.basis,
                },
                ensure_ascii=False,
            )
        )
        return 0
    _print_builtins(builtins, infos, costs)
    if not config.servers:
        console.print(f"No MCP servers yet ({config.path}).")
        console.print("Add one with 'seedchat tools add', or 'seedchat tools import'.")
    for s in statuses:
        style = _STATE_STYLE.get(s.state, "yellow")
        console.print(
            f"[bold]{escape(s.name)}[/] [{style}]{s.state}[/] [dim]{s.transport} · "
            f"{escape(s.target)}[/]"
        )
        if s.error:
            console.print(f"  [red]{escape(s.error)}[/]")
        table = Table(box=None, show_header=False, padding=(0, 1, 0, 2))
        for t in s.tools:
            tokens = costs.per_tool.get((s.name, t.name))
            first_line = (t.description or "").strip().splitlines()[:1]
            always = " [yellow]always allowed[/]" if is_always_allowed(t.name, s.name) else ""
            table.add_row(
                f"[cyan]{escape(t.name)}[/]{always}",
                f"{tokens} tokens" if tokens is not None else "",
                f"[dim]{escape(first_line[0][:70] if first_line else '')}[/]",
            )
        if s.tools:
            console.print(table)
    console.print(
        f"[dim]{len(offered)} tools, {costs.total} prompt tokens in all ({costs.basis}) · "
        f"{config.path}[/]"
    )
    return 0


def _add_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--url", help="a Streamable HTTP server's address")
    parser.add_argument("--header", action="append", metavar="K=V", help="an HTTP header")
    parser.add_argument("--env", action="append", metavar="K=V", help="a variable it sees")
    parser.add_argument("--cwd", help="the folder the server runs in")
    parser.add_argument("--replace", action="store_true", help="replace a server of that name")
    return parser


def _split_add(args: argparse.Namespace) -> list[str]:
    """The command after ``--``; the options between NAME and ``--`` read into ``args``
    (argparse takes no options after a positional that ends with the rest)."""
    rest = list(args.command or [])
    if "--" in rest:
        options, command = rest[: rest.index("--")], rest[rest.index("--") + 1 :]
    elif rest and not rest[0].startswith("-"):
        options, command = [], rest
    else:
        options, command = rest, []
    parser = _add_options(argparse.ArgumentParser(prog="seedchat tools add NAME", add_help=False))
    parser.parse_args(options, namespace=args)
    return command


def cmd_add(args: argparse.Namespace) -> int:
    config = ToolsConfig.load()
    raw: dict = {}
    command = _split_add(args)
    if args.url and command:
        raise ToolConfigError("Give either --url URL or '-- COMMAND ARGS…', not both.")
    if args.url:
        raw = {"url": args.url, "headers": _pairs(args.header, "--header")}
    elif command:
        raw = {"command": command[0], "args": command[1:], "env": _pairs(args.env, "--env")}
        if args.cwd:
            raw["cwd"] = args.cwd
    else:
        raise ToolConfigError(
            "Say how to reach the server: 'seedchat tools add NAME -- COMMAND ARGS…' or "
            "'seedchat tools add NAME --url URL'."
        )
    entry = parse_entry(args.name, raw, "the command line")
    config.add(entry, replace_existing=args.replace)
    config.save()
    console.print(f"Added MCP server '{escape(entry.name)}' ({escape(entry.describe())}).")
    note(f"saved in {config.path}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    config = ToolsConfig.load()
    config.remove(args.name)
    config.save()
    console.print(f"Removed MCP server '{escape(args.name)}'.")
    return 0


def _set_builtin(args: argparse.Namespace, enabled: bool) -> int:
    config = BuiltinConfig.load()
    for folder in args.folder or []:
        if enabled:
            note(f"the files tool may read {config.add_folder(folder)}")
        else:
            config.remove_folder(folder)
    if args.folder and not enabled and args.name == "files" and config.folders:
        enabled = True  # a folder taken away: the tool stays on with the others
    else:
        config.set_enabled(args.name, enabled)
    config.save()
    console.print(f"Built-in tool '{args.name}' {'enabled' if enabled else 'disabled'}.")
    if enabled and args.name == "fetch":
        note("fetch reads public web pages the model asks for; each call is shown first")
    return 0


def _set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    if args.name in BUILTINS:
        return _set_builtin(args, enabled)
    if args.folder:
        raise ToolConfigError("--folder is for the built-in files tool only.")
    config = ToolsConfig.load()
    config.set_enabled(args.name, enabled)
    config.save()
    console.print(f"MCP server '{escape(args.name)}' {'enabled' if enabled else 'disabled'}.")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    config = ToolsConfig.load()
    if args.file:
        sources = [("file", Path(args.file).expanduser())]
    else:
        sources = peer_config_files()
        if not sources:
            console.print(
                "No Claude Desktop, LM Studio or Jan MCP configuration found on this machine."
            )
            console.print("Import a file by naming it: 'seedchat tools import FILE'.")
            return 0
    for app, path in sources:
        servers = read_peer_file(path)
        added, skipped = config.import_from(servers.values())
        origin = f"{app} ({path})" if app != "file" else str(path)
        console.print(
            f"From {escape(origin)}: {len(added)} added"
            + (f" ({escape(', '.join(added))})" if added else "")
        )
        if skipped:
            note(f"already configured, left as they are: {', '.join(skipped)}")
    config.save()
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    try:
        arguments = json.loads(args.arguments) if args.arguments else {}
    except json.JSONDecodeError as exc:
        raise SeedchatError(
            f"The arguments are not JSON: {exc.msg} at column {exc.colno}.",
            hint='Quote them for the shell: \'{"timezone": "Asia/Tokyo"}\'.',
        ) from exc
    if not isinstance(arguments, dict):
        raise SeedchatError("The arguments must be a JSON object ({...}).")
    if args.name in BUILTINS:
        return _call_builtin(args, arguments)
    config = ToolsConfig.load()
    config.entry(args.name)  # an unknown name names the file
    timeout = args.timeout or float(load_settings().tool_call_timeout)
    with ToolHost(config, call_timeout=timeout) as host:
        result = host.call(args.name, args.tool, arguments)
    if result.error:
        err_console.print(f"[bold red]{result.status}:[/] {escape(result.error)}")
        return 1
    for part in result.parts:
        console.print(part.as_text(), markup=False, highlight=False)
    if result.structured is not None and not result.parts:
        console.print_json(json.dumps(result.structured, ensure_ascii=False))
    note(f"{result.status} in {result.duration_s * 1000:.0f} ms")
    return 0 if result.status == "ok" else 1


def _call_builtin(args: argparse.Namespace, arguments: dict) -> int:
    """A built-in tool called by hand (whether switched on or not: you are asking)."""
    tool = make_tool(args.name, BuiltinConfig.load(), load_settings())
    outcome = tool.call(args.tool, arguments, threading.Event())
    if outcome.is_error:
        err_console.print(f"[bold red]error:[/] {escape(outcome.text)}")
        return 1
    console.print(outcome.text, markup=False, highlight=False)
    note(f"ok in {outcome.seconds * 1000:.0f} ms")
    return 0


def register(sub) -> None:
    parser = sub.add_parser("tools", help="MCP servers whose tools the model may call")
    verbs = parser.add_subparsers(dest="tools_command", metavar="ACTION", required=True)

    p = verbs.add_parser("list", help="servers, their state, their tools and prompt cost")
    p.add_argument("--model", help="count tokens with this model (default: the one seedchat loads)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a server (30)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_list)

    p = verbs.add_parser(
        "add",
        help="add a server: NAME -- COMMAND ARGS…, or NAME --url URL",
        usage="seedchat tools add NAME [--env K=V] [--cwd DIR] -- COMMAND [ARGS…]\n"
        "       seedchat tools add NAME --url URL [--header K=V]",
    )
    _add_options(p)
    p.add_argument("name")
    p.add_argument(
        "command", nargs=argparse.REMAINDER, help="the program and its arguments, after --"
    )
    p.set_defaults(func=cmd_add)

    for verb, func, text in (
        ("remove", cmd_remove, "remove a server from mcp.json"),
        ("enable", lambda a: _set_enabled(a, True), "switch a server on"),
        ("disable", lambda a: _set_enabled(a, False), "switch a server off (kept in mcp.json)"),
    ):
        p = verbs.add_parser(verb, help=text)
        p.add_argument("name", help=f"a server, or built in: {', '.join(BUILTINS)}")
        if verb != "remove":
            p.add_argument(
                "--folder", action="append", help="files: a folder it may read (repeat it)"
            )
        p.set_defaults(func=func)

    p = verbs.add_parser(
        "import", help="import servers from a file, else from Claude Desktop, LM Studio, Jan"
    )
    p.add_argument("file", nargs="?")
    p.set_defaults(func=cmd_import)

    p = verbs.add_parser("call", help="call one tool by hand (for debugging)")
    p.add_argument("name", help=f"the server, or built in: {', '.join(BUILTINS)}")
    p.add_argument("tool")
    p.add_argument("arguments", nargs="?", default="{}", help="a JSON object")
    p.add_argument(
        "--timeout", type=float, help="seconds the call may take (the setting tool_call_timeout)"
    )
    p.set_defaults(func=cmd_call)
