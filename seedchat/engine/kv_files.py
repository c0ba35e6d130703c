"""Saved KV state files: their format, the index of each model's folder, the disk budget.

The files of :mod:`seedchat.engine.kv_snapshots` (which saves and restores them for the engine),
kept apart from llama.cpp: this module reads and writes bytes, tokens and JSON only, so the
front ends can delete a conversation's states (:func:`forget_conversation`) and
``seedchat doctor`` can measure them (:func:`cache_usage`) without a model.

Where: ``<cache>/kv-snapshots/<model>-<key>/``, one folder per model file and KV layout
(:attr:`Layout.folder`), with an ``index.json`` (file → tokens, block hashes,
conversations, size, last use) beside the ``*.kvs`` files. A file::

    MAGIC (8 bytes, the format's version in its last byte)
    header length (u32 LE) | header (JSON) | CRC-32 of the header (u32 LE)
    tokens (int32 LE each: the prompt, then the reply)
    llama.cpp's sequence state (``payload_bytes`` bytes)

The header names llama-cpp-python's version (it pins one llama.cpp), the model file
(path, size, modification time), the KV cache type, flash attention, the context size,
the token counts, and the CRC-32 of the tokens and of the state. :func:`read_snapshot`
raises :class:`Rejected` when the magic, a CRC, the size or any of those does not match,
or when the tokens are not the prompt's. Files are written under a hidden temporary name
(with the writer's process id), synced and renamed, and only then listed in the index: a
crash while writing leaves nothing that is used, and the temporary file is removed once
its process is gone. Matching is by blocks of :data:`BLOCK` tokens, each block's hash
chained to the one before (equal i-th hashes: equal first i blocks).
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import hashlib
import json
import logging
import os
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from seedchat.paths import atomic_write_text, get_paths

try:
    import fcntl
except ImportError:  # Windows: the in-process lock only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

FORMAT = 1
MAGIC = b"SEEDKV\x00" + bytes([FORMAT])
SUFFIX = ".kvs"
INDEX = "index.json"
BLOCK = 64  # tokens per matching block
STALE_SECONDS = 600  # a file missing from the index this old is an orphan
MAX_HEADER = 1 << 20
_U32 = struct.Struct("<I")
_LOCK = threading.RLock()


def cache_root() -> Path:
    """The folder of every model's saved KV states."""
    return get_paths().cache / "kv-snapshots"


@dataclass(frozen=True)
class Layout:
    """What a saved state must have been made with to be restored."""

    model: str  # the model file, resolved
    size: int
    mtime_ns: int
    kv_type: str
    flash_attn: bool
    llama_cpp: str  # llama-cpp-python's version

    @classmethod
    def of(cls, path: Path, kv_type: str, flash_attn: bool, llama_cpp: str) -> Layout:
        st = path.stat()
        return cls(str(path.resolve()), st.st_size, st.st_mtime_ns, kv_type, flash_attn, llama_cpp)

    @property
    def folder(self) -> str:
        """The folder's name: the model's name and a key of everything but llama.cpp's
        version (files of another version are found, rejected and deleted)."""
        ident = [self.model, self.size, self.mtime_ns, self.kv_type, self.flash_attn]
        key = hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:16]
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(self.model).stem)
        return f"{stem[:48]}-{key}"


@dataclass
class Entry:
    """One saved state in a folder's index."""

    name: str
    tokens: int  # tokens in the file: the prompt, then the reply
    exact: int  # of those, the prompt's: what may be restored
    bytes: int  # the file's size
    blocks: list[str]  # chained hashes of the prompt's whole blocks
    conversations: list[str] = field(default_factory=list)
    created: float = 0.0
    used: float = 0.0
    llama_cpp: str = ""


@dataclass(frozen=True)
class CacheUsage:
    bytes: int
    files: int
    models: int
    path: Path


class Rejected(Exception):
    """Why a saved state cannot be used."""


# -- tokens and blocks ---------------------------------------------------------------


def pack_tokens(tokens: Sequence[int]) -> bytes:
    data = array.array("i", tokens)
    if sys.byteorder == "big":
        data.byteswap()
    return data.tobytes()


def unpack_tokens(data: bytes) -> list[int]:
    out = array.array("i")
    out.frombytes(data)
    if sys.byteorder == "big":
        out.byteswap()
    return out.tolist()


def block_hashes(tokens: Sequence[int], n_blocks: int | None = None) -> list[str]:
    """Hashes of the whole blocks of ``tokens`` (the first ``n_blocks``), each chained to
    the one before: equal i-th hashes mean equal first i blocks."""
    n = len(tokens) // BLOCK if n_blocks is None else min(n_blocks, len(tokens) // BLOCK)
    data = pack_tokens(tokens[: n * BLOCK])
    step = BLOCK * 4
    out: list[str] = []
    digest = b""
    for i in range(n):
        digest = hashlib.blake2b(digest + data[i * step : (i + 1) * step], digest_size=8).digest()
        out.append(digest.hex())
    return out


def matching_blocks(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def covers(new: Sequence[str], old: Sequence[str]) -> bool:
    """Whether a state of blocks ``new`` makes one of ``old`` useless: it holds all of
    old's blocks but perhaps the last."""
    need = max(len(old) - 1, 0)
    return len(new) >= need and list(new[:need]) == list(old[:need])


# -- files ------------------------------------------------------------------------------


def write_payload(fh: Any, payload: Any) -> None:
    """The state's bytes, in pieces (a test replaces this to crash half-way)."""
    view = memoryview(payload).cast("B")
    step = 64 * 2**20
    for i in range(0, len(view), step):
        fh.write(view[i : i + step])


def write_snapshot(path: Path, header: dict[str, Any], tokens: bytes, payload: Any) -> int:
    """Write a snapshot file under a temporary name, sync, rename; return its size."""
    head = json.dumps(header, sort_keys=True).encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + _U32.pack(len(head)) + head + _U32.pack(zlib.crc32(head)))
            fh.write(tokens)
            write_payload(fh, payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path.stat().st_size


def expected_header(layout: Layout) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "llama_cpp": layout.llama_cpp,
        "model": layout.model,
        "model_size": layout.size,
        "model_mtime_ns": layout.mtime_ns,
        "kv_type": layout.kv_type,
        "flash_attn": layout.flash_attn,
    }


def read_snapshot(path: Path, layout: Layout, prompt: Sequence[int], keep: int) -> ctypes.Array:
    """The checked state of a snapshot whose first ``keep`` tokens are the prompt's;
    raises :class:`Rejected` saying why it cannot be used."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if fh.read(len(MAGIC)) != MAGIC:
            raise Rejected("not a seedchat KV snapshot of this format")
        (n_head,) = _U32.unpack(fh.read(4) or b"\0\0\0\0")
        head = fh.read(min(n_head, MAX_HEADER))
        crc = fh.read(4)
        if len(head) != n_head or len(crc) != 4 or zlib.crc32(head) != _U32.unpack(crc)[0]:
            raise Rejected("its header is damaged or cut short")
        header = json.loads(head)
        if not isinstance(header, dict):
            raise Rejected("its header is not an object")
        for key, want in expected_header(layout).items():
            if header.get(key) != want:
                raise Rejected(f"made with another {key} ({header.get(key)!r}, not {want!r})")
        n_tokens, n_bytes = int(header["n_tokens"]), int(header["payload_bytes"])
        if size != len(MAGIC) + 8 + n_head + 4 * n_tokens + n_bytes:
            raise Rejected(f"its size is {size} bytes, not what its header says (truncated?)")
        if not keep <= int(header["exact"]) <= n_tokens:
            raise Rejected("it holds fewer prompt tokens than its index says")
        tokens = fh.read(4 * n_tokens)
        if zlib.crc32(tokens) != header["tokens_crc"]:
            raise Rejected("its tokens are damaged")
        if unpack_tokens(tokens[: 4 * keep]) != list(prompt[:keep]):
            raise Rejected("its tokens are not the prompt's")
        buf = (ctypes.c_uint8 * n_bytes)()
        if fh.readinto(buf) != n_bytes or zlib.crc32(buf) != header["payload_crc"]:
            raise Rejected("its state is damaged")
    return buf


def read_index(folder: Path) -> dict[str, Entry]:
    try:
        raw = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        items = raw["entries"].items()
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        log.debug("ignoring the damaged snapshot index of %s: %s", folder, exc)
        return {}
    entries = {}
    for name, value in items:
        try:
            entries[name] = Entry(name=name, **value)
        except TypeError:
            log.debug("ignoring a damaged entry %s in %s", name, folder)
    return entries


def save_index(folder: Path, entries: dict[str, Entry]) -> None:
    data = {n: {k: v for k, v in asdict(e).items() if k != "name"} for n, e in entries.items()}
    atomic_write_text(folder / INDEX, json.dumps({"format": FORMAT, "entries": data}))


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """The indexes of ``root``, for this thread and (where the OS can) this process."""
    with _LOCK:
        root.mkdir(parents=True, exist_ok=True)
        with open(root / ".lock", "a+b") as fh:
            if fcntl is not None:
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fh, fcntl.LOCK_UN)


def _folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _process_gone(tmp: Path) -> bool:
    try:
        pid = int(tmp.name.rsplit(".", 2)[-2])
    except (ValueError, IndexError):
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def tidy(folder: Path, entries: dict[str, Entry], now: float) -> None:
    """Remove temporary files of writers that are gone and files the index lost."""
    for path in folder.iterdir():
        name = path.name
        try:
            old = now - path.stat().st_mtime > STALE_SECONDS
        except OSError:
            continue
        orphan = name.endswith(SUFFIX) and not name.startswith(".") and name not in entries
        if (name.endswith(".tmp") and (old or _process_gone(path))) or (orphan and old):
            log.debug("removing the leftover snapshot file %s", path)
            path.unlink(missing_ok=True)


def evict(budget_bytes: int, root: Path | None = None) -> int:
    """Delete the least recently used snapshots (all models) until they fit the budget;
    return how many were deleted."""
    root = root or cache_root()
    removed = 0
    now = time.time()
    with locked(root):
        indexes = {folder: read_index(folder) for folder in _folders(root)}
        for folder, entries in indexes.items():
            tidy(folder, entries, now)
        ranked = sorted(
            ((e.used, folder, e) for folder, entries in indexes.items() for e in entries.values()),
            key=lambda item: item[0],
        )
        total = sum(e.bytes for _, _, e in ranked)
        changed = set()
        for _, folder, entry in ranked:
            if total <= budget_bytes:
                break
            log.debug("evicting the snapshot %s (%d bytes)", entry.name, entry.bytes)
            (folder / entry.name).unlink(missing_ok=True)
            del indexes[folder][entry.name]
            total -= entry.bytes
            changed.add(folder)
            removed += 1
        for folder in changed:
            save_index(folder, indexes[folder])
    return removed


def forget_conversation(conversation_id: str, root: Path | None = None) -> int:
    """Delete every saved state made from ``conversation_id``; return how many."""
    root = root or cache_root()
    if not root.is_dir():
        return 0
    removed = 0
    with locked(root):
        for folder in _folders(root):
            entries = read_index(folder)
            gone = [e for e in entries.values() if conversation_id in e.conversations]
            for entry in gone:
                (folder / entry.name).unlink(missing_ok=True)
                del entries[entry.name]
            if gone:
                save_index(folder, entries)
                removed += len(gone)
    if removed:
        log.info("deleted %d saved KV state(s) of conversation %s", removed, conversation_id)
    return removed


def cache_usage(root: Path | None = None) -> CacheUsage:
    """What the saved states take on disk."""
    root = root or cache_root()
    total = files = models = 0
    for folder in _folders(root):
        sizes = [p.stat().st_size for p in folder.glob("*" + SUFFIX)]
        total += sum(sizes)
        files += len(sizes)
        models += bool(sizes)
    return CacheUsage(total, files, models, root)
