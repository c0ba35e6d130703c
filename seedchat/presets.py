"""Presets: named sets of generation settings (a system prompt, the thinking budget and its
enforcement, sampling) that a user switches between.

A preset is data over :class:`~seedchat.settings.ChatSettings`: it sets the fields it names
and leaves the others as they were (:meth:`Preset.apply`); the settings it gives carry its
name (``ChatSettings.preset``), which the store records with a conversation and the export
shows.

- The built-in presets come from the Seed model cards: ``seedchat/data/presets.json``, each
  with its public source (Seed-OSS's recommended sampling, its TAU-bench sampling for agents,
  its thinking budgets; Seed-Coder-8B-Instruct's default decoding).
- The user's own live in seedchat's config folder (``presets.json``), written atomically:
  :meth:`Presets.save` (the current settings under a name; saving under a name of one's own
  again replaces it), :meth:`Presets.rename`, :meth:`Presets.delete`. A file that cannot be
  read is reported (:attr:`Presets.problem`) and left as it is until fixed; the built-ins
  work meanwhile. No user preset may take a built-in's name (names compare without case).

Every front end goes through :func:`apply` (or :func:`load_presets` and :meth:`Presets.get`):
the page's picker, ``--preset`` of ``seedchat chat`` and ``seedchat serve``, the OpenAI API's
``seedchat.preset`` and the Ollama API's ``options.preset``; so one preset gives the same
settings, and the same prompt, everywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedchat.errors import SettingsError
from seedchat.paths import get_paths, save_text
from seedchat.settings import CHAT_KEYS, FIELDS, ChatSettings

log = logging.getLogger(__name__)

BUILTIN_FILE = Path(__file__).parent / "data" / "presets.json"
FILE_VERSION = 1
MAX_NAME = 40
#: What "save the current settings as a preset" keeps: the system prompt, the budget and its
#: enforcement, sampling (the seed and lookup decoding stay per chat)
SAVED_FIELDS = (
    "system_prompt",
    "budget",
    "enforcement",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
)
#: What a preset may set: every generation setting but the preset's own name
SETTABLE = tuple(name for name in CHAT_KEYS if name != "preset")
_FIX_FILE = "Fix the file or delete it (the built-in presets work meanwhile)."


class PresetError(SettingsError):
    """A preset that does not exist, a name that is not allowed, or a presets file that
    cannot be read or written."""


@dataclass(frozen=True)
class Preset:
    """A name and the settings it sets (``ChatSettings`` field → value)."""

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = ""  # a built-in's public source (the model card)
    builtin: bool = False

    def apply(self, base: ChatSettings) -> ChatSettings:
        """``base`` with this preset's settings, named after it."""
        return dataclasses.replace(base.replace(**self.settings), preset=self.name)

    def summary(self) -> str:
        """What it sets, in words: "budget 0 (answer directly), temperature 1.1, …"."""
        return describe(self.settings)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "settings": dict(self.settings)}


def describe(settings: Mapping[str, Any]) -> str:
    """Settings a preset sets, in words, in the panel's order."""
    words = {
        "budget": lambda v: (
            "thinking unlimited"
            if v < 0
            else ("budget 0 (answer directly)" if v == 0 else f"budget {v} tokens")
        ),
        "enforcement": lambda v: f"{v} enforcement",
        "temperature": lambda v: f"temperature {v:g}",
        "top_p": lambda v: f"top-p {v:g}",
        "top_k": lambda v: "top-k off" if v == 0 else f"top-k {v}",
        "max_tokens": lambda v: f"max tokens {v}",
        "seed": lambda v: "a random seed" if v is None else f"seed {v}",
        "lookup_decoding": lambda v: f"lookup decoding {v}",
        "system_prompt": lambda v: (
            "no system prompt"
            if not v
            else "system prompt "
            + json.dumps(v if len(v) <= 40 else v[:39] + "…", ensure_ascii=False)
        ),
    }
    order = [*SAVED_FIELDS[1:], "seed", "lookup_decoding", "system_prompt"]
    return ", ".join(words[name](settings[name]) for name in order if name in settings)


def check_name(name: Any) -> str:
    """A preset's name, stripped; PresetError if it is empty, too long or unprintable."""
    if not isinstance(name, str) or not name.strip():
        raise PresetError("A preset needs a name.", hint="Type a name for it first.")
    name = name.strip()
    if len(name) > MAX_NAME or not name.isprintable():
        raise PresetError(
            f"The preset name {name!r} is not allowed.",
            hint=f"Use up to {MAX_NAME} printable characters.",
        )
    return name


def check_settings(where: str, values: Any) -> dict[str, Any]:
    """A preset's settings, each checked as the settings file checks it."""
    if not isinstance(values, dict):
        raise PresetError(f"{where}: 'settings' must be an object.")
    checked = {}
    for name, value in values.items():
        if name not in SETTABLE:
            raise PresetError(
                f"{where} sets {name!r}, which is not a generation setting.",
                hint=f"A preset may set {', '.join(SETTABLE)}.",
            )
        try:
            checked[name] = FIELDS[CHAT_KEYS[name]].check(name, value)
        except SettingsError as err:
            raise PresetError(f"{where}: {err.message}") from None
    return checked


def _parse(path: Path, builtin: bool) -> list[Preset]:
    """The presets of one file; PresetError saying what is wrong where."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"The presets file {path} cannot be read: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PresetError(f"The presets file {path} is not valid JSON ({exc}).") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("presets"), list):
        raise PresetError(f"The presets file {path} must hold an object with a 'presets' list.")
    sources = raw.get("sources", {}) if builtin else {}
    presets: list[Preset] = []
    for i, entry in enumerate(raw["presets"]):
        where = f"{path}, preset {i + 1}"
        if not isinstance(entry, dict):
            raise PresetError(f"{where} must be an object.")
        name = check_name(entry.get("name"))
        if any(p.name.casefold() == name.casefold() for p in presets):
            raise PresetError(f"{where}: the name {name!r} is used twice.")
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise PresetError(f"{where}: 'description' must be text.")
        settings = check_settings(where, entry.get("settings", {}))
        source = sources.get(entry.get("source"), "") if builtin else ""
        presets.append(Preset(name, settings, description, source, builtin))
    return presets


@functools.cache
def builtin_presets() -> tuple[Preset, ...]:
    """The built-in presets (``seedchat/data/presets.json``, shipped with the package)."""
    return tuple(_parse(BUILTIN_FILE, builtin=True))


class Presets:
    """The built-in presets and the user's (``presets_file`` in seedchat's config folder)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or get_paths().presets_file
        self.builtins = list(builtin_presets())
        self.user: list[Preset] = []
        #: why the user's file could not be read (its presets are then left out)
        self.problem: PresetError | None = None
        if self.path.exists():
            try:
                self.user = self._checked_user(_parse(self.path, builtin=False))
            except PresetError as err:
                self.problem = PresetError(err.message, hint=_FIX_FILE)
                log.warning("%s", self.problem)

    def _checked_user(self, user: list[Preset]) -> list[Preset]:
        for preset in user:
            if self._find(preset.name, self.builtins) is not None:
                raise PresetError(
                    f"The presets file {self.path} has a preset named {preset.name!r}, "
                    "which is a built-in preset's name."
                )
        return user

    @property
    def all(self) -> list[Preset]:
        return [*self.builtins, *self.user]

    def names(self) -> list[str]:
        return [p.name for p in self.all]

    @staticmethod
    def _find(name: str, presets: list[Preset]) -> Preset | None:
        wanted = name.strip().casefold()
        return next((p for p in presets if p.name.casefold() == wanted), None)

    def find(self, name: str) -> Preset | None:
        """The preset named ``name`` (any case), or None."""
        return self._find(name, self.all)

    def get(self, name: str) -> Preset:
        """The preset named ``name`` (any case); PresetError listing the presets if none."""
        found = self.find(name)
        if found is not None:
            return found
        if self.problem is not None:
            raise PresetError(
                f"There is no preset named {name!r}: {self.problem.message}", hint=_FIX_FILE
            )
        raise PresetError(
            f"There is no preset named {name!r}.",
            hint=f"The presets are {', '.join(self.names())} ('seedchat presets' shows them).",
        )

    def save(self, name: str, settings: ChatSettings, description: str = "") -> Preset:
        """Keep ``settings`` (:data:`SAVED_FIELDS`) as the user's preset ``name``; one of
        that name already is replaced."""
        name = check_name(name)
        existing = self._own(name, "replaced") if self.find(name) else None
        preset = Preset(name, {f: getattr(settings, f) for f in SAVED_FIELDS}, description)
        user = [preset if p is existing else p for p in self.user]
        self._write(user if existing is not None else [*user, preset])
        return preset

    def rename(self, old: str, new: str) -> Preset:
        """Give the user's preset ``old`` the name ``new``."""
        preset = self._own(old, "renamed")
        new = check_name(new)
        clash = self.find(new)
        if clash is not None and clash is not preset:
            raise PresetError(
                f"There is already a preset named {clash.name!r}.", hint="Choose another name."
            )
        renamed = dataclasses.replace(preset, name=new)
        self._write([renamed if p is preset else p for p in self.user])
        return renamed

    def delete(self, name: str) -> None:
        """Delete the user's preset ``name``."""
        preset = self._own(name, "deleted")
        self._write([p for p in self.user if p is not preset])

    def _own(self, name: str, verb: str) -> Preset:
        """The user's preset ``name``, for a change; PresetError for a built-in one."""
        if self.problem is not None:
            raise PresetError(f"The presets cannot be {verb}: {self.problem.message}", _FIX_FILE)
        preset = self.get(name)
        if preset.builtin:
            raise PresetError(
                f"{preset.name!r} is a built-in preset: it cannot be {verb}.",
                hint="Save your settings as a preset of your own, under another name.",
            )
        return preset

    def _write(self, user: list[Preset]) -> None:
        if self.problem is not None:
            raise PresetError(f"The presets cannot be saved: {self.problem.message}", _FIX_FILE)
        data = {"version": FILE_VERSION, "presets": [p.to_dict() for p in user]}
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        hint = "Check the config folder's permissions and the free disk space."
        save_text(self.path, text, "Cannot write the presets file", hint, PresetError)
        self.user = user


def load_presets(path: Path | None = None) -> Presets:
    """The built-in presets and the user's (read now: a preset saved in the page is seen by
    the API's next request)."""
    return Presets(path)


def api_system_prompt(settings: ChatSettings) -> str:
    """The system prompt an API (stateless: a request's messages are its history) puts first
    when a request sends no system message: the one the preset of ``settings`` sets, while
    ``settings`` still hold it, stripped as the page and the terminal send it; else ""."""
    system = settings.system_prompt.strip()
    if settings.preset is None or not system:
        return ""
    preset = load_presets().find(settings.preset)
    if preset is None or str(preset.settings.get("system_prompt", "")).strip() != system:
        return ""
    return system


def apply(name: str, settings: ChatSettings) -> ChatSettings:
    """``settings`` with the preset ``name`` over them, named after it; PresetError if there
    is no such preset. The one call of every front end (the Ollama API's ``options.preset``
    too): what a preset does not set stays as it was in ``settings``."""
    return load_presets().get(name).apply(settings)
