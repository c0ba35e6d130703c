"""The MCP servers seedchat may start: ``mcp.json`` in seedchat's config folder.

The file has the shape Claude Desktop, LM Studio and Cursor write::

    {"mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "UTC"}},
        "docs": {"url": "https://example.org/mcp", "headers": {"Authorization": "Bearer …"}}
    }}

so a block copied from a peer's file (or its documentation) works as it is. Reading also
takes VS Code's ``servers`` key and Jan's ``"active": false``; seedchat writes a switched
off server as ``"disabled": true`` (Cline's spelling) and the tools a user always allows
as the entry's ``alwaysAllow`` list (Cline's too). Every problem is a
:class:`ToolConfigError` that names the file and what is wrong in it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from seedchat.errors import SeedchatError
from seedchat.paths import get_paths, save_text

CONFIG_NAME = "mcp.json"


class ToolConfigError(SeedchatError):
    """The MCP servers' configuration (``mcp.json``, an imported file) is invalid."""


def config_file() -> Path:
    """seedchat's ``mcp.json`` (in its config folder, under ``SEEDCHAT_HOME`` in tests)."""
    return get_paths().config / CONFIG_NAME


@dataclass(frozen=True)
class ServerEntry:
    """One configured server: a command to run (stdio) or a URL (Streamable HTTP)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    always_allow: tuple[str, ...] = ()  # tools run without asking
    timeout: float | None = None  # seconds per call; None: the setting's default

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    def describe(self) -> str:
        """The command line or the URL, for lists and messages."""
        if self.url:
            return self.url
        return " ".join([self.command or "", *self.args]).strip()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.url:
            out["url"] = self.url
            if self.headers:
                out["headers"] = dict(self.headers)
        else:
            out["command"] = self.command
            out["args"] = list(self.args)
            if self.env:
                out["env"] = dict(self.env)
            if self.cwd:
                out["cwd"] = self.cwd
        if not self.enabled:
            out["disabled"] = True
        if self.always_allow:
            out["alwaysAllow"] = sorted(self.always_allow)
        if self.timeout is not None:
            out["timeout"] = self.timeout
        return out


def _str_map(value: Any, what: str, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in value.items()
    ):
        raise ToolConfigError(f"{where}: '{what}' must be an object of names to text values.")
    return {k: str(v) for k, v in value.items()}


def parse_entry(name: str, raw: Any, where: str) -> ServerEntry:
    """One server's block, as any of the peers write it; ``where`` names the file."""
    at = f"{where}: server '{name}'"
    if not isinstance(raw, dict):
        raise ToolConfigError(f"{at} must be an object with a 'command' or a 'url'.")
    command, url = raw.get("command"), raw.get("url") or raw.get("serverUrl")
    if bool(command) == bool(url):
        raise ToolConfigError(
            f"{at} needs exactly one of 'command' (a program to run) or 'url' (an HTTP server).",
            hint='e.g. {"command": "uvx", "args": ["mcp-server-time"]}',
        )
    if command is not None and not isinstance(command, str):
        raise ToolConfigError(f"{at}: 'command' must be text.")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise ToolConfigError(f"{at}: 'url' must be an http:// or https:// address.")
    args = raw.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
        raise ToolConfigError(f"{at}: 'args' must be a list of text values.")
    cwd = raw.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise ToolConfigError(f"{at}: 'cwd' must be a folder's path.")
    allow = raw.get("alwaysAllow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise ToolConfigError(f"{at}: 'alwaysAllow' must be a list of tool names.")
    timeout = raw.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise ToolConfigError(f"{at}: 'timeout' must be a number of seconds above 0.")
    enabled = not raw.get("disabled", False) and raw.get("active", True) is not False
    return ServerEntry(
        name=name,
        command=command,
        args=tuple(str(a) for a in args),
        env=_str_map(raw.get("env"), "env", at),
        cwd=cwd,
        url=url,
        headers=_str_map(raw.get("headers"), "headers", at),
        enabled=bool(enabled),
        always_allow=tuple(allow),
        timeout=float(timeout) if timeout is not None else None,
    )


def parse_servers(raw: Any, where: str) -> dict[str, ServerEntry]:
    """The servers of a whole file: ``mcpServers`` (Claude Desktop, LM Studio, Cursor,
    Jan) or ``servers`` (VS Code)."""
    if not isinstance(raw, dict):
        raise ToolConfigError(f"{where} must hold a JSON object with an 'mcpServers' key.")
    block = raw.get("mcpServers", raw.get("servers"))
    if block is None:
        if raw:
            raise ToolConfigError(
                f"{where} has no 'mcpServers' (or 'servers') key; it has "
                f"{', '.join(repr(k) for k in raw)}.",
                hint='The file looks like {"mcpServers": {"NAME": {"command": …}}}.',
            )
        return {}
    if not isinstance(block, dict):
        raise ToolConfigError(f"{where}: 'mcpServers' must be an object of server names.")
    servers = {}
    for name, entry in block.items():
        check_name(name, where)
        servers[name] = parse_entry(name, entry, where)
    return servers


def check_name(name: str, where: str = "a server's name") -> None:
    if (
        not name
        or not isinstance(name, str)
        or any(c in name for c in "/\\\n\t")
        or name != name.strip()
    ):
        raise ToolConfigError(
            f"{where}: {name!r} is not a usable server name.",
            hint="Use letters, digits, '-' or '_'.",
        )


def read_json_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ToolConfigError(f"{path} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolConfigError(f"{path} cannot be read: {exc}") from exc
    try:
        return json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ToolConfigError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            hint="Fix the file (or delete it to start with no servers).",
        ) from exc


@dataclass
class ToolsConfig:
    """seedchat's ``mcp.json``: the servers in their order, read and written whole.
    Keys seedchat does not know (a peer's ``mcpSettings``, say) are kept as they were."""

    path: Path
    servers: dict[str, ServerEntry] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> ToolsConfig:
        path = path or config_file()
        if not path.exists():
            return cls(path=path)
        raw = read_json_file(path)
        servers = parse_servers(raw, str(path))
        extra = {k: v for k, v in raw.items() if k not in ("mcpServers", "servers")}
        return cls(path=path, servers=servers, extra=extra)

    def text(self) -> str:
        """The file as seedchat writes it."""
        data = {"mcpServers": {n: e.to_json() for n, e in self.servers.items()}, **self.extra}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def save(self) -> Path:
        hint = "Check that seedchat's config folder is writable and the disk has room."
        save_text(self.path, self.text(), "Cannot write", hint, ToolConfigError)
        return self.path

    def entry(self, name: str) -> ServerEntry:
        try:
            return self.servers[name]
        except KeyError:
            known = ", ".join(self.servers) or "none yet"
            raise ToolConfigError(
                f"No MCP server named {name!r} in {self.path} (configured: {known}).",
                hint="See 'seedchat tools list', or add one with 'seedchat tools add'.",
            ) from None

    def add(self, entry: ServerEntry, replace_existing: bool = False) -> None:
        check_name(entry.name)
        if entry.name in self.servers and not replace_existing:
            raise ToolConfigError(
                f"An MCP server named {entry.name!r} is already in {self.path}.",
                hint=f"Remove it first ('seedchat tools remove {entry.name}') or pick "
                "another name.",
            )
        self.servers[entry.name] = entry

    def remove(self, name: str) -> ServerEntry:
        entry = self.entry(name)
        del self.servers[name]
        return entry

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.servers[name] = replace(self.entry(name), enabled=enabled)

    def is_always_allowed(self, server: str, tool: str) -> bool:
        entry = self.servers.get(server)
        return entry is not None and tool in entry.always_allow

    def allow_always(self, server: str, tool: str) -> None:
        """Remember that ``tool`` of ``server`` runs without asking (saved by :meth:`save`)."""
        entry = self.entry(server)
        if tool not in entry.always_allow:
            self.servers[server] = replace(entry, always_allow=(*entry.always_allow, tool))

    def forget_always(self, server: str, tool: str) -> None:
        """Ask about ``tool`` of ``server`` again (saved by :meth:`save`)."""
        entry = self.entry(server)
        kept = tuple(t for t in entry.always_allow if t != tool)
        self.servers[server] = replace(entry, always_allow=kept)

    def import_from(self, servers: Iterable[ServerEntry]) -> tuple[list[str], list[str]]:
        """Add the servers not configured yet; returns (added, skipped) names."""
        added, skipped = [], []
        for entry in servers:
            if entry.name in self.servers:
                skipped.append(entry.name)
            else:
                self.servers[entry.name] = entry
                added.append(entry.name)
        return added, skipped


def peer_config_files() -> list[tuple[str, Path]]:
    """The MCP files of Claude Desktop, LM Studio and Jan on this OS, where they exist."""
    home = Path.home()
    if sys.platform == "darwin":
        support = home / "Library" / "Application Support"
        claude, jan = support / "Claude", support / "Jan" / "data"
    elif sys.platform == "win32":
        appdata = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))
        claude, jan = appdata / "Claude", appdata / "Jan" / "data"
    else:
        config = Path(os.environ.get("XDG_CONFIG_HOME", home / ".config"))
        claude, jan = config / "Claude", config / "Jan" / "data"
    candidates = [
        ("Claude Desktop", claude / "claude_desktop_config.json"),
        ("LM Studio", home / ".lmstudio" / "mcp.json"),
        ("Jan", jan / "mcp_config.json"),
    ]
    return [(app, path) for app, path in candidates if path.is_file()]


def read_peer_file(path: Path) -> dict[str, ServerEntry]:
    """The servers of another app's file (any of the shapes :func:`parse_servers` reads)."""
    return parse_servers(read_json_file(path), str(path))
