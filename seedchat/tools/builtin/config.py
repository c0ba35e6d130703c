"""Which built-in tools are on, and the folders the ``files`` tool may read:
``builtin_tools.json`` in the config folder, ``{"enabled": ["python"], "folders": [...], "alwaysAllow": [...]}``.

Every built-in tool is off until the person switches it on (``seedchat tools enable
NAME``, or its switch in the page's Tools panel). A file that cannot be read counts as
all off (logged): a damaged file can only take tools away, never give one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from seedchat.errors import SettingsError
from seedchat.paths import get_paths, save_text

log = logging.getLogger(__name__)

FILE_NAME = "builtin_tools.json"

#: the built-in tools, each with what it does in a few words (as lists show it)
BUILTINS: dict[str, str] = {
    "python": "run_python: Python in a sandbox (no files, network or environment)",
    "files": "list_files, read_file, search_files in the folders you chose",
    "fetch": "fetch_url: a web page as readable text (public addresses only)",
}

# each built-in tool's functions, as the model calls them
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "python": ("run_python",),
    "files": ("list_files", "read_file", "search_files"),
    "fetch": ("fetch_url",),
}


def builtin_functions() -> set[str]:
    """Every function name of the built-in tools (on or off)."""
    return {f for names in FUNCTIONS.values() for f in names}


class BuiltinToolError(SettingsError):
    """A built-in tool named wrongly or set up wrongly; says what to do."""


def check_name(name: str) -> str:
    if name not in BUILTINS:
        raise BuiltinToolError(
            f"There is no built-in tool {name!r}.", hint=f"Built in: {', '.join(BUILTINS)}."
        )
    return name


@dataclass
class BuiltinConfig:
    """The built-in tools switched on, and the ``files`` tool's folders."""

    enabled: set[str] = field(default_factory=set)
    folders: list[Path] = field(default_factory=list)
    always: set[str] = field(default_factory=set)  # functions the user always allows

    @staticmethod
    def path() -> Path:
        return get_paths().config / FILE_NAME

    @classmethod
    def load(cls) -> BuiltinConfig:
        path = cls.path()
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            enabled = {n for n in data.get("enabled", []) if n in BUILTINS}
            folders = [Path(f) for f in data.get("folders", []) if isinstance(f, str)]
            always = {n for n in data.get("alwaysAllow", []) if isinstance(n, str)}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
            log.warning("ignoring %s (every built-in tool is off): %s", path, exc)
            return cls()
        return cls(enabled, folders, always)

    def save(self) -> Path:
        path = self.path()
        data = {
            "enabled": sorted(self.enabled),
            "folders": [str(f) for f in self.folders],
            "alwaysAllow": sorted(self.always),
        }
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        failure = "Cannot save the built-in tools' choices in"
        save_text(
            path,
            text,
            failure,
            "Check that seedchat's config folder is writable.",
            BuiltinToolError,
        )
        return path

    def set_enabled(self, name: str, on: bool) -> None:
        check_name(name)
        if on and name == "files" and not self.folders:
            raise BuiltinToolError(
                "The files tool needs a folder to read.",
                hint="Name one: seedchat tools enable files --folder ~/notes",
            )
        (self.enabled.add if on else self.enabled.discard)(name)

    def add_folder(self, folder: str | Path) -> Path:
        """Add ``folder`` (made absolute, symbolic links resolved) to the files tool's."""
        resolved = Path(folder).expanduser().resolve()
        if not resolved.is_dir():
            raise BuiltinToolError(f"{folder} is not a folder.", hint="Name a folder that exists.")
        if resolved not in self.folders:
            self.folders.append(resolved)
        return resolved

    def remove_folder(self, folder: str | Path) -> None:
        resolved = Path(folder).expanduser().resolve()
        self.folders = [f for f in self.folders if f != resolved]
        if not self.folders:
            self.enabled.discard("files")
