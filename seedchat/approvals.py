"""The tools the user chose to "always allow", remembered in seedchat's config folder.

One small JSON file, ``tool_approvals.json`` beside the settings file::

    {"always": ["get_current_time", "filesystem/read_file"]}

A tool is named as the loop names it (an MCP server's tools may be ``server/tool``).
Written through a temporary file and a rename, so an interrupted write never leaves a
half file; a file that cannot be read counts as empty (logged), so a damaged file can
only make seedchat ask again, never run a tool unasked.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from seedchat.errors import SettingsError
from seedchat.paths import atomic_write_text, get_paths

log = logging.getLogger(__name__)

FILE_NAME = "tool_approvals.json"


def approvals_file() -> Path:
    return get_paths().config / FILE_NAME


def always_allowed() -> set[str]:
    """Every tool remembered as always allowed."""
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


def is_always_allowed(tool: str) -> bool:
    return tool in always_allowed()


def allow_always(tool: str) -> None:
    """Remember ``tool`` as always allowed."""
    _write(always_allowed() | {tool})


def forget(tool: str) -> None:
    """Ask about ``tool`` again from now on."""
    _write(always_allowed() - {tool})


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
