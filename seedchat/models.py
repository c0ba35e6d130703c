"""The local models: which GGUF files seedchat finds on this machine, and what they are.

(The Seed models one can download are :mod:`seedchat.hub.catalog`'s.)

Metadata is read with gguf-py's :class:`gguf.GGUFReader` (memory-mapped, so a
large model is not read into memory). A file that is not a valid GGUF shows up as
unreadable with the reason, never as a crash.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedchat.errors import ModelFileError
from seedchat.paths import get_paths
from seedchat.settings import Settings

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
DEMO_DIR = Path(__file__).parent / "data" / "demo"


@dataclass
class ModelInfo:
    """What seedchat read of one GGUF file on this machine."""

    path: Path
    source: str  # "models dir" | "added" | "demo"
    size_bytes: int = 0
    name: str | None = None
    architecture: str | None = None
    parameters: int | None = None
    quantization: str | None = None
    context_length: int | None = None
    block_count: int | None = None
    has_chat_template: bool = False
    tensor_types: dict[str, int] = field(default_factory=dict)  # type name → tensors, most first
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def is_demo(self) -> bool:
        return self.source == "demo"

    @property
    def display_name(self) -> str:
        base = self.name or self.path.stem
        return f"{base} (demo)" if self.is_demo and "demo" not in base.lower() else base


def human_size(n: float | None, unit: str = "B") -> str:
    if n is None:
        return "?"
    for prefix in ("", "K", "M", "G", "T"):
        if abs(n) < 1024 or prefix == "T":
            return f"{n:.0f} {prefix}{unit}" if prefix == "" else f"{n:.1f} {prefix}{unit}"
        n /= 1024
    return f"{n} {unit}"


def human_count(n: int | None) -> str:
    if n is None:
        return "?"
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)


def format_type_counts(counts: dict[str, int]) -> str:
    """``{"Q4_K": 385, "F32": 321}`` → ``"Q4_K ×385, F32 ×321"`` (the most common first)."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} ×{n}" for name, n in ordered)


def _type_counts(reader: Any) -> dict[str, int]:
    counts = Counter(t.tensor_type.name for t in reader.tensors)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _field_value(reader: Any, key: str) -> Any:
    fld = reader.get_field(key)
    if fld is None:
        return None
    try:
        return fld.contents()
    except Exception:
        return None


def read_gguf_info(path: Path | str, source: str = "added") -> ModelInfo:
    """Read a GGUF file's metadata; raise :class:`ModelFileError` if it is not usable."""
    import gguf  # gguf-py; imported lazily (it pulls in numpy)

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file not found: {path}", hint="Check the path.")
    size = path.stat().st_size
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"{path.name} is not a GGUF model file (it does not start with 'GGUF').",
            hint="seedchat runs GGUF files; convert a Hugging Face checkpoint with 'seedchat convert'.",
        )
    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as exc:
        raise ModelFileError(
            f"{path.name} is not a readable GGUF file ({type(exc).__name__}: {exc}); "
            "it may be truncated or corrupt.",
            hint="Download or convert it again.",
        ) from exc
    end = max((t.data_offset + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size:
        raise ModelFileError(
            f"{path.name} is truncated: its tensors need {end} bytes but the file has {size}.",
            hint="The download or conversion did not finish; do it again.",
        )
    arch = _field_value(reader, "general.architecture")
    info = ModelInfo(path=path, source=source, size_bytes=size)
    info.architecture = str(arch) if arch is not None else None
    info.name = _field_value(reader, "general.name")
    info.parameters = sum(int(t.n_elements) for t in reader.tensors)
    info.quantization = _quantization(reader, gguf)
    info.tensor_types = _type_counts(reader)
    if arch:
        ctx = _field_value(reader, f"{arch}.context_length")
        info.context_length = int(ctx) if ctx is not None else None
        blocks = _field_value(reader, f"{arch}.block_count")
        info.block_count = int(blocks) if blocks is not None else None
    info.has_chat_template = reader.get_field("tokenizer.chat_template") is not None
    for key in reader.fields:
        if key.startswith("tokenizer.ggml.") and key not in (
            "tokenizer.ggml.model",
            "tokenizer.ggml.pre",
            "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.padding_token_id",
        ):
            continue  # skip the large vocabulary arrays
        if key.startswith("GGUF."):
            continue
        info.metadata[key] = _field_value(reader, key)
    return info


def _quantization(reader: Any, gguf: Any) -> str | None:
    file_type = _field_value(reader, "general.file_type")
    if file_type is not None:
        try:
            return gguf.LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_")
        except ValueError:
            pass
    kinds = Counter(
        t.tensor_type.name for t in reader.tensors if len(t.shape) >= 2 and t.n_elements > 0
    )
    return kinds.most_common(1)[0][0] if kinds else None


def _probe(path: Path, source: str) -> ModelInfo:
    try:
        return read_gguf_info(path, source)
    except ModelFileError as err:
        size = path.stat().st_size if path.exists() else 0
        return ModelInfo(path=path, source=source, size_bytes=size, error=err.message)


def model_search_roots(extra: list[str] | None = None) -> list[tuple[Path, str]]:
    """The places :func:`list_models` looks in, with the label each gets."""
    roots: list[tuple[Path, str]] = [(get_paths().models, "models dir")]
    roots += [(Path(p).expanduser(), "added") for p in (extra or [])]
    roots.append((DEMO_DIR, "demo"))
    return roots


def list_models(extra_paths: list[str] | None = None) -> list[ModelInfo]:
    """Every GGUF file in the models dir, the user's extra paths and the bundled demo."""
    seen: set[Path] = set()
    found: list[ModelInfo] = []
    for root, source in model_search_roots(extra_paths):
        if root.is_file():
            candidates = [root]
        elif root.is_dir():
            candidates = sorted(p for p in root.rglob("*.gguf") if p.is_file())
        else:
            if source == "added":
                log.warning("model path %s does not exist", root)
            continue
        for path in candidates:
            key = path.resolve()
            if key in seen or path.name.startswith("."):
                continue  # hidden files are unfinished temporaries
            seen.add(key)
            found.append(_probe(path, source))
    return found


def demo_model() -> Path | None:
    """The bundled demo model, if this installation has one."""
    files = sorted(DEMO_DIR.glob("*.gguf")) if DEMO_DIR.is_dir() else []
    return files[0] if files else None


def resolve_model(name: str | None, settings: Settings) -> Path:
    """The model a command means: a file, the name of a local model, else the last used
    model, else the first local model, else the bundled demo."""
    if name:
        path = Path(name).expanduser()
        if path.is_file():
            return path
        for m in list_models(settings.model_paths):
            if m.ok and name in (m.name, m.path.stem, m.path.name):
                return m.path
        raise ModelFileError(f"No model named {name!r}.", hint="See 'seedchat models'.")
    if settings.model and Path(settings.model).is_file():
        return Path(settings.model)
    good = [m for m in list_models(settings.model_paths) if m.ok and not m.is_demo]
    if good:
        return good[0].path
    demo = demo_model()
    if demo is None:
        raise ModelFileError("No model found.", hint="Convert one with 'seedchat convert'.")
    return demo
