"""The tools the user chose to "always allow": the one place the rule lives.

The tool loop (the page and ``seedchat chat``) asks here before it asks the user, and
``seedchat tools list`` shows the same answer. Where it is remembered:

- a tool of an MCP server: in that server's entry of ``mcp.json``, as its
  ``alwaysAllow`` list (the shape Cline and other peers write, so a file copied from a
  peer keeps its choices, and removing the server forgets them);
- a tool seedchat has built in (no server): ``tool_approvals.json`` beside the settings
  file, ``{"always": ["get_current_time"]}``.

Both files are written through a temporary file and a rename, so an interrupted write
never leaves a half file; a file that cannot be read counts as allowing nothing (logged),
so a damaged file can only make seedchat ask again, never run a tool unasked.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from seedchat.errors import SettingsError
from seedchat.paths import atomic_write_text, get_paths
from seedchat.tools.config import ToolConfigError, ToolsConfig

log = logging.getLogger(__name__)

FILE_NAME = "tool_approvals.json"


def approvals_file() -> Path:
    """Where the built-in tools' choices are kept (an MCP tool's are in ``mcp.json``)."""
    return get_paths().config / FILE_NAME


def always_allowed() -> set[str]:
    """Every built-in tool remembered as always allowed."""
    path = approvals_file()
    if not path.exists():
        return set()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("ignoring %s (every tool call will be asked about): %s", path, exc)
        return set()
    names = data.get("always") if isinstance(data, dict) else None
    if not isinstance(names, list):
        log.warning("ignoring %s: it has no list 'always'", path)
        return set()
    return {name for name in names if isinstance(name, str)}


def is_always_allowed(tool: str, server: str | None = None) -> bool:
    """Whether ``tool`` (of the MCP server ``server``; None: built in) runs unasked."""
    if server is None:
        return tool in always_allowed()
    try:
        return ToolsConfig.load().is_always_allowed(server, tool)
    except ToolConfigError as err:
        log.warning("asking about %s: %s", tool, err.message)
        return False


def allow_always(tool: str, server: str | None = None) -> None:
    """Remember ``tool`` (of ``server``) as always allowed. Raises a SeedchatError that
    says why it could not be remembered (the call is then allowed once)."""
    if server is None:
        _write(always_allowed() | {tool})
        return
    config = ToolsConfig.load()
    config.allow_always(server, tool)
    _save(config)


def forget(tool: str, server: str | None = None) -> None:
    """Ask about ``tool`` (of ``server``) again from now on."""
    if server is None:
        _write(always_allowed() - {tool})
        return
    config = ToolsConfig.load()
    config.forget_always(server, tool)
    _save(config)


def _save(config: ToolsConfig) -> None:
    try:
        config.save()
    except OSError as exc:
        raise SettingsError(
            f"Cannot remember the tool approval in {config.path}: {exc.strerror or exc}",
            hint="Check that seedchat's config folder is writable; the call is allowed once.",
        ) from exc


def _write(names: set[str]) -> None:
    path = approvals_file()
    text = json.dumps({"always": sorted(names)}, indent=2, ensure_ascii=False) + "\n"
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise SettingsError(
            f"Cannot remember the tool approval in {path}: {exc.strerror or exc}",
            hint="Check that seedchat's config folder is writable; the call is allowed once.",
        ) from exc
