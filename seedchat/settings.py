"""User settings: one JSON file, every value validated on load.

A bad value never stops the app: it is replaced by its default and reported as a
:class:`SettingsError` naming the key and the allowed values, which the CLI and
the UI show as a warning. Validation is table-driven (:data:`FIELDS`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedchat.errors import SettingsError
from seedchat.paths import atomic_write_text, get_paths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Field:
    """How one setting is checked: its type, range or choices, and default."""

    default: Any
    kind: type | tuple[type, ...]
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] | None = None
    also: tuple[Any, ...] = ()  # extra literal values allowed beside the range (e.g. "auto")
    doc: str = ""

    def allowed(self) -> str:
        parts: list[str] = []
        if self.choices is not None:
            parts.append(" | ".join(json.dumps(c) for c in self.choices))
        elif self.lo is not None or self.hi is not None:
            name = "an integer" if self.kind is int else "a number"
            parts.append(f"{name} from {self.lo} to {self.hi}")
        else:
            names = self.kind if isinstance(self.kind, tuple) else (self.kind,)
            parts.append(" or ".join(_TYPE_NAMES.get(k, k.__name__) for k in names))
        parts.extend(json.dumps(a) for a in self.also)
        return " or ".join(parts)

    def check(self, key: str, value: Any) -> Any:
        if value in self.also and type(value) is type(self.also[0]):
            return value
        ok_type = isinstance(value, self.kind) and not (
            isinstance(value, bool) and self.kind in (int, float, (int, float))
        )
        if self.kind == (int, float) and isinstance(value, int) and not isinstance(value, bool):
            ok_type = True
        if (
            not ok_type
            or (self.choices is not None and value not in self.choices)
            or (self.lo is not None and value < self.lo)
            or (self.hi is not None and value > self.hi)
        ):
            raise SettingsError(
                f"Setting '{key}' has the value {json.dumps(value)}, "
                f"but it must be {self.allowed()}.",
                hint=f"Using the default ({json.dumps(self.default)}). "
                "Fix or remove it in the settings file.",
            )
        if self.kind == (int, float):
            return float(value)
        return value


_TYPE_NAMES = {str: "text", bool: "true/false", list: "a list", type(None): "null"}

#: Every setting seedchat knows, with its default and its allowed values.
FIELDS: dict[str, Field] = {
    "model": Field(None, (str, type(None)), doc="Path of the last used model"),
    "model_paths": Field([], list, doc="Extra folders or files to look for GGUF models in"),
    "thinking_budget": Field(
        -1, int, lo=-1, hi=131072, doc="-1 unlimited, 0 answer directly, else tokens"
    ),
    "enforce": Field("hard", str, choices=("hard", "soft"), doc="How a thinking budget is kept"),
    "temperature": Field(1.1, (int, float), lo=0.0, hi=5.0),
    "top_p": Field(0.95, (int, float), lo=0.0, hi=1.0),
    "top_k": Field(0, int, lo=0, hi=100000, doc="0 disables top-k"),
    "max_tokens": Field(8192, int, lo=1, hi=1048576),
    "context_length": Field(8192, int, lo=0, hi=1048576, doc="0 uses the model's own"),
    "n_gpu_layers": Field("auto", int, lo=0, hi=100000, also=("auto",)),
    "kv_cache_type": Field("f16", str, choices=("f16", "q8_0", "q4_0")),
    "flash_attn": Field(True, bool),
    "threads": Field(0, int, lo=0, hi=1024, doc="0 picks the number of physical cores"),
    "host": Field("127.0.0.1", str),
    "port": Field(7860, int, lo=1, hi=65535),
    "open_browser": Field(True, bool),
    "system_prompt": Field("", str),
}


@dataclass
class Settings:
    """Validated settings plus the problems found while loading them."""

    values: dict[str, Any] = field(
        default_factory=lambda: {k: f.default for k, f in FIELDS.items()}
    )
    problems: list[SettingsError] = field(default_factory=list)
    path: Path | None = None

    def __getattr__(self, key: str) -> Any:
        values = self.__dict__.get("values", {})
        if key in values:
            return values[key]
        raise AttributeError(key)

    def get(self, key: str) -> Any:
        return self.values[key]

    def set(self, key: str, value: Any) -> None:
        """Validate and set one value; raises :class:`SettingsError` if it is not allowed."""
        if key not in FIELDS:
            raise SettingsError(
                f"Unknown setting '{key}'.", hint=f"Known settings: {', '.join(FIELDS)}."
            )
        self.values[key] = FIELDS[key].check(key, value)

    def save(self, path: Path | None = None) -> Path:
        target = path or self.path or get_paths().settings_file
        atomic_write_text(target, json.dumps(self.values, indent=2, ensure_ascii=False) + "\n")
        self.path = target
        return target


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings file; bad values fall back to defaults and are reported."""
    path = path or get_paths().settings_file
    settings = Settings(path=path)
    if not path.exists():
        return settings
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        settings.problems.append(
            SettingsError(
                f"The settings file {path} cannot be read: {exc}",
                hint="Using all defaults. Fix the file or delete it to start fresh.",
            )
        )
        return settings
    if not isinstance(raw, dict):
        settings.problems.append(
            SettingsError(
                f"The settings file {path} must hold a JSON object.",
                hint="Using all defaults. Fix the file or delete it to start fresh.",
            )
        )
        return settings
    for key, value in raw.items():
        if key not in FIELDS:
            settings.problems.append(
                SettingsError(
                    f"Unknown setting '{key}' in {path} is ignored.",
                    hint=f"Known settings: {', '.join(FIELDS)}.",
                )
            )
            continue
        try:
            settings.set(key, value)
        except SettingsError as err:
            settings.problems.append(err)
    for problem in settings.problems:
        log.warning("%s", problem)
    return settings
