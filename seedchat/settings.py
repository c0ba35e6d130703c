"""User settings: one JSON file, every value validated on load, and the typed views of it.

A bad value never stops the app: it is replaced by its default and reported as a
:class:`SettingsError` naming the key and the allowed values, which the CLI and
the UI show as a warning. Validation is table-driven (:data:`FIELDS`).

The settings file is read through typed views, one spelling per concept:

- :class:`ChatSettings`: how one conversation generates (thinking budget, enforcement,
  sampling, max tokens, system prompt, seed, and the preset they were set from). Every front end, the store's ``settings``
  column and the export read and write it through its methods; a new generation setting
  is one :data:`FIELDS` row, one dataclass field and one entry of its key map.
- :class:`LoadOptions`: how a model is loaded (GPU layers, context, KV cache, threads).
- :class:`GenerationOptions`: what the engine is asked for one reply (built from a
  :class:`ChatSettings` by :meth:`ChatSettings.generation_options`).
- :class:`ToolSettings`: how the tool loop runs (approval, rounds, result length).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedchat.errors import SettingsError
from seedchat.paths import atomic_write_text, get_paths
from seedchat.seed import budget as budgets
from seedchat.seed.budget import Enforcement

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
    "model": Field(None, (str, type(None)), doc="path of the model to load at start"),
    "model_paths": Field([], list, doc="extra folders or files with GGUF models"),
    "servers": Field(
        [], list, doc="OpenAI-compatible servers you added (name, url; keys in the OS keyring)"
    ),
    "thinking_budget": Field(
        budgets.UNLIMITED,
        int,
        lo=budgets.UNLIMITED,
        hi=budgets.MAX_BUDGET,
        doc="-1 unlimited, 0 answer directly, else tokens (multiples of 512 work best)",
    ),
    "enforce": Field(
        budgets.ENFORCEMENTS[0],
        str,
        choices=budgets.ENFORCEMENTS,
        doc="hard: thinking is cut at the budget; soft: the model keeps its own budget",
    ),
    "temperature": Field(1.1, (int, float), lo=0.0, hi=5.0, doc="0 picks the likeliest token"),
    "top_p": Field(0.95, (int, float), lo=0.0, hi=1.0, doc="nucleus sampling; 1 turns it off"),
    "top_k": Field(0, int, lo=0, hi=100000, doc="0: the model's default (off if it has none)"),
    "max_tokens": Field(8192, int, lo=1, hi=1048576, doc="the longest reply, thinking included"),
    "seed": Field(None, int, lo=0, hi=2**32 - 2, also=(None,), doc="null: a new random seed"),
    "system_prompt": Field("", str, doc="sent before every conversation"),
    "preset": Field(
        None,
        (str, type(None)),
        doc="the preset the generation settings were last set from (seedchat presets)",
    ),
    "lookup_decoding": Field(
        "auto",
        str,
        choices=("auto", "off"),
        doc="auto: draft tokens the conversation already holds, checked in one batch",
    ),
    "tool_approval": Field(
        "ask",
        str,
        choices=("ask", "auto"),
        doc="ask: each tool call waits for your yes (or a tool you always allow); auto: none do",
    ),
    "max_tool_rounds": Field(
        10, int, lo=1, hi=1000, doc="tool calls the model may make in one answer, in rounds"
    ),
    "tool_result_max_tokens": Field(
        4096, int, lo=16, hi=1048576, doc="a longer tool result is cut to this (marked as cut)"
    ),
    "tool_call_timeout": Field(
        60.0, (int, float), lo=1.0, hi=3600.0, doc="seconds a tool call may take"
    ),
    "python_time_limit": Field(
        10.0, (int, float), lo=0.1, hi=600.0, doc="seconds the built-in python tool may run"
    ),
    "python_memory_mb": Field(
        256, int, lo=8, hi=65536, doc="MiB of memory the built-in python tool may use"
    ),
    "python_output_max_bytes": Field(
        65536, int, lo=256, hi=16777216, doc="the most a python tool call may print"
    ),
    "fetch_max_bytes": Field(
        2097152, int, lo=1024, hi=104857600, doc="the most the fetch tool reads of one page"
    ),
    "fetch_timeout": Field(
        15.0, (int, float), lo=1.0, hi=300.0, doc="seconds the fetch tool waits for a page"
    ),
    "context_length": Field(8192, int, lo=0, hi=1048576, doc="0 uses the model's own"),
    "n_gpu_layers": Field(
        "auto", int, lo=0, hi=100000, also=("auto",), doc="auto: planned from free GPU memory"
    ),
    "kv_cache_type": Field("f16", str, choices=("f16", "q8_0", "q4_0"), doc="KV cache precision"),
    "flash_attn": Field(True, bool, doc="flash attention where llama.cpp supports it"),
    "offload_kqv": Field(
        True, bool, doc="the KV cache on the GPU with its layers; false: in system RAM"
    ),
    "threads": Field(
        0, int, lo=0, hi=1024, doc="0: one per physical CPU core it may use, at most 8"
    ),
    "kv_cache_disk_gb": Field(
        10,
        (int, float),
        lo=0,
        hi=100000,
        doc="disk for saved conversation states (instant reopen), oldest out first; 0: off",
    ),
    "host": Field("127.0.0.1", str, doc="the address the UI listens on"),
    "port": Field(7860, int, lo=1, hi=65535, doc="the UI's port (the next free one if taken)"),
    "open_browser": Field(True, bool, doc="open the browser when the UI starts"),
    "allowed_hosts": Field(
        [],
        list,
        doc="more names the UI and the API answer to (the Host header), such as a name on "
        "your network; 127.0.0.1, localhost, [::1] and the address listened on always",
    ),
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


# -- typed views ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatSettings:
    """How one conversation generates: what the settings panel, ``seedchat chat``'s flags,
    the settings file and the store's ``settings`` column all hold."""

    budget: int = FIELDS["thinking_budget"].default  # -1 unlimited, 0 answer directly
    enforcement: Enforcement = FIELDS["enforce"].default
    temperature: float = FIELDS["temperature"].default
    top_p: float = FIELDS["top_p"].default
    top_k: int = FIELDS["top_k"].default
    max_tokens: int = FIELDS["max_tokens"].default
    system_prompt: str = FIELDS["system_prompt"].default
    seed: int | None = FIELDS["seed"].default
    lookup_decoding: str = FIELDS["lookup_decoding"].default
    preset: str | None = FIELDS["preset"].default  # the preset these were set from (a name)
    #: the tools switched off in this conversation (``server`` or ``server/tool``); a
    #: conversation's own choice, not a setting of the file
    tools_off: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatSettings:
        """The generation settings of the settings file (a new chat's defaults)."""
        return cls(**{name: settings.get(key) for name, key in CHAT_KEYS.items()})

    def save_to(self, settings: Settings) -> Path:
        """Make these the settings file's defaults, and write it."""
        for name, key in CHAT_KEYS.items():
            settings.set(key, getattr(self, name))
        return settings.save()

    def to_record(self) -> dict[str, Any]:
        """The store's ``settings`` column for a conversation or an answer (JSON's shapes:
        the switched-off tools as a list, as the store gives them back)."""
        return {**dataclasses.asdict(self), "tools_off": list(self.tools_off)}

    @classmethod
    def from_record(
        cls, record: Mapping[str, Any] | None, default: ChatSettings | None = None
    ) -> ChatSettings:
        """A stored record over ``default``. Older records' keys (the settings file's
        ``thinking_budget``/``enforce``) are read too; unknown keys and bad values are
        skipped with a log line, never an error: a saved conversation always opens."""
        values = dataclasses.asdict(default or cls())
        off = (record or {}).get("tools_off", values["tools_off"])
        values["tools_off"] = (
            tuple(t for t in off if isinstance(t, str)) if isinstance(off, (list, tuple)) else ()
        )
        for key, value in (record or {}).items():
            name = key if key in CHAT_KEYS else _RECORD_ALIASES.get(key)
            if name is None or (key != name and name in (record or {})):
                continue
            try:
                values[name] = FIELDS[CHAT_KEYS[name]].check(name, value)
            except SettingsError:
                log.warning("ignoring the saved setting %s=%r", key, value)
        return cls(**values)

    def replace(self, **changes: Any) -> ChatSettings:
        """These settings with ``changes`` (None values are skipped: a flag not given).
        Raises :class:`SettingsError` naming a bad value and what is allowed."""
        values = {}
        for name, value in changes.items():
            if name not in CHAT_KEYS:
                raise SettingsError(f"Unknown generation setting {name!r}.")
            if value is not None:
                values[name] = FIELDS[CHAT_KEYS[name]].check(name, value)
        return dataclasses.replace(self, **values)

    def generation_options(self, **extra: Any) -> GenerationOptions:
        """What the engine is asked for one reply (``extra``: ``raw``, ``tools``)."""
        shared = {f.name for f in dataclasses.fields(GenerationOptions)} & set(CHAT_KEYS)
        return GenerationOptions(**{name: getattr(self, name) for name in shared}, **extra)


#: ChatSettings field → settings-file key: the one map between the two spellings.
CHAT_KEYS: dict[str, str] = {
    "budget": "thinking_budget",
    "enforcement": "enforce",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_tokens": "max_tokens",
    "system_prompt": "system_prompt",
    "seed": "seed",
    "lookup_decoding": "lookup_decoding",
    "preset": "preset",
}
_RECORD_ALIASES = {key: name for name, key in CHAT_KEYS.items() if key != name}


@dataclass(frozen=True)
class GenerationOptions:
    """One reply's request to the engine. ``None`` sampling values take the model's own
    defaults (its GGUF's ``general.sampling.*``), else Seed's 1.1 / 0.95."""

    budget: int = budgets.UNLIMITED
    enforcement: Enforcement | None = None  # None: hard when a budget is set
    temperature: float | None = None
    top_p: float | None = None
    top_k: int = 0
    seed: int | None = None
    max_tokens: int = FIELDS["max_tokens"].default
    raw: bool = False  # plain completion of the prompt text, no template
    tools: list[dict] | None = None
    conversation: str | None = None  # the saved conversation, named with its KV snapshots
    lookup_decoding: str = FIELDS["lookup_decoding"].default  # "auto" | "off"
    # the messages continue the engine's last reply (the tool loop's results after it):
    # that reply is read as the model wrote it (seedchat.seed.prompt_tokens.continued_tokens)
    continue_reply: bool = False


@dataclass(frozen=True)
class ToolSettings:
    """How the tool loop (:mod:`seedchat.chat.tool_loop`) runs: whether calls wait for the
    user's approval, how many rounds of calls one answer may make, how long a result
    may be (in tokens) before it is cut."""

    approval: str = FIELDS["tool_approval"].default  # "ask" | "auto"
    max_rounds: int = FIELDS["max_tool_rounds"].default
    result_max_tokens: int = FIELDS["tool_result_max_tokens"].default

    @classmethod
    def from_settings(cls, settings: Settings) -> ToolSettings:
        return cls(
            settings.get("tool_approval"),
            settings.get("max_tool_rounds"),
            settings.get("tool_result_max_tokens"),
        )


MAX_AUTO_THREADS = 8
_LOAD_KEYS = (
    "n_gpu_layers",
    "context_length",
    "flash_attn",
    "kv_cache_type",
    "offload_kqv",
    "threads",
    "kv_cache_disk_gb",
)


@dataclass(frozen=True)
class LoadOptions:
    """How a model is loaded; ``LoadOptions.from_settings`` reads the settings file."""

    n_gpu_layers: int | str = FIELDS["n_gpu_layers"].default  # "auto": planned from free GPU memory
    context_length: int = FIELDS["context_length"].default  # 0: the model's own
    flash_attn: bool = FIELDS["flash_attn"].default
    kv_cache_type: str = FIELDS["kv_cache_type"].default
    threads: int = FIELDS["threads"].default  # 0: see thread_count
    n_batch: int = (
        0  # the prompt's batch size; 0: the engine's choice (CPU_N_BATCH, or llama.cpp's on GPU)
    )
    kv_cache_disk_gb: float = FIELDS["kv_cache_disk_gb"].default  # saved KV states; 0: off
    offload_kqv: bool = FIELDS["offload_kqv"].default  # False: the KV cache in system RAM

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> LoadOptions:
        """The settings file's load options; ``overrides`` that are not None win."""
        values = {name: settings.get(name) for name in _LOAD_KEYS}
        for name, value in overrides.items():
            if value is not None:
                values[name] = FIELDS[name].check(name, value) if name in FIELDS else value
        return cls(**values)

    @property
    def thread_count(self) -> int:
        """Threads llama.cpp uses: ``threads``, or for 0 one per physical CPU core this
        process may use, at most 8 (see :func:`physical_cores`)."""
        return self.threads or min(MAX_AUTO_THREADS, physical_cores())


def usable_cpus() -> int:
    """The CPU cores this process may run on: those of its affinity mask where the system
    keeps one (``taskset``, a container's cpuset), else all of them. llama.cpp's threads wait
    for one another by spinning: more threads than cores makes every token many times slower."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def physical_cores() -> int:
    """The physical CPU cores among those this process may use (:func:`usable_cpus`). A
    core's second hardware thread adds little to llama.cpp's matrix work and makes its
    threads wait on each other (llama.cpp itself defaults to physical cores)."""
    import psutil  # here, not at import: every command reads the settings, few load a model

    logical = os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    usable = usable_cpus()
    return max(1, min(usable, usable * physical // logical))


def settings_table() -> str:
    """docs/settings.md's table of settings, made from :data:`FIELDS` (a test keeps them equal)."""
    rows = ["| key | default | allowed | what it does |", "| --- | --- | --- | --- |"]
    for key, f in FIELDS.items():
        allowed = f.allowed().replace("|", "\\|")
        rows.append(f"| `{key}` | `{json.dumps(f.default)}` | {allowed} | {f.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":  # print docs/settings.md's settings table
    print(settings_table())
