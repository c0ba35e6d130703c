"""Read (sharded) safetensors checkpoints without torch, one tensor at a time.

A safetensors file is an 8-byte little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, then the raw data. Tensors are read with plain
``readinto`` calls in chunks (no memory map, whose touched pages would count against
the process), so memory stays near the size of the tensor being converted. bf16 is
widened to float32 from its raw bits.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seedchat.errors import ConversionError

INDEX_FILE = "model.safetensors.index.json"
MAX_HEADER = 100 * 2**20

_DTYPES: dict[str, tuple[np.dtype, int]] = {
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),  # raw bits; widened by _to_f32
}


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor's bytes lie."""

    name: str
    dtype: str  # "F32" | "F16" | "BF16"
    shape: tuple[int, ...]
    file: Path
    offset: int  # absolute byte offset in ``file``
    nbytes: int

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


def _read_header(path: Path) -> tuple[dict, int]:
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise ConversionError(f"{path.name} is empty or truncated (no safetensors header).")
            (length,) = struct.unpack("<Q", raw)
            if length > MAX_HEADER or 8 + length > size:
                raise ConversionError(
                    f"{path.name} is not a valid safetensors file (its header claims "
                    f"{length} bytes; the file has {size}).",
                    hint="The file is corrupt or truncated: download it again.",
                )
            header = json.loads(fh.read(length))
    except OSError as exc:
        raise ConversionError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConversionError(
            f"{path.name} has a corrupt safetensors header ({exc}).",
            hint="The file is corrupt: download it again.",
        ) from exc
    if not isinstance(header, dict):
        raise ConversionError(f"{path.name} has a corrupt safetensors header.")
    return header, 8 + length


def read_file_index(path: Path) -> list[TensorRef]:
    """The tensors of one safetensors file, checked against its size."""
    header, data_start = _read_header(path)
    size = path.stat().st_size
    refs = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConversionError(f"{path.name}: tensor {name} has a malformed entry.") from exc
        if dtype not in _DTYPES:
            raise ConversionError(
                f"{path.name}: tensor {name} is stored as {dtype}; seedchat converts "
                "checkpoints stored in BF16, F16 or F32.",
                hint="Convert the checkpoint to one of these with transformers first.",
            )
        nbytes = end - begin
        expected = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype][1]
        if nbytes != expected or begin < 0:
            raise ConversionError(f"{path.name}: tensor {name} has inconsistent offsets.")
        if data_start + end > size:
            raise ConversionError(
                f"{path.name} is truncated: tensor {name} ends at byte {data_start + end} "
                f"but the file has {size} bytes.",
                hint="The download did not finish: download the checkpoint again.",
            )
        refs.append(TensorRef(name, dtype, shape, path, data_start + begin, nbytes))
    return refs


def index_checkpoint(directory: Path) -> list[TensorRef]:
    """Every tensor of a checkpoint folder, following ``model.safetensors.index.json``."""
    index = directory / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConversionError(f"{index} is not a valid safetensors index ({exc}).") from exc
        files = sorted(set(weight_map.values()))
        for name in files:
            if not (directory / name).is_file():
                raise ConversionError(
                    f"The shard {name} named in {INDEX_FILE} is missing from {directory}.",
                    hint="Download the complete checkpoint.",
                )
        paths = [directory / f for f in files]
    else:
        paths = sorted(directory.glob("*.safetensors"))
    if not paths:
        raise ConversionError(
            f"No .safetensors weights found in {directory}.",
            hint="seedchat converts Hugging Face checkpoints saved as safetensors.",
        )
    refs: list[TensorRef] = []
    for path in paths:
        refs.extend(read_file_index(path))
    return refs


def _to_f32(raw: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32, copy=False)


def iter_rows_f32(ref: TensorRef, chunk_elements: int = 1 << 22) -> Iterator[np.ndarray]:
    """The tensor as float32 blocks of whole rows (2-D: ``(rows, cols)``; 1-D: one block)."""
    np_dtype, itemsize = _DTYPES[ref.dtype]
    cols = ref.shape[-1] if len(ref.shape) >= 2 else ref.n_elements
    rows = ref.n_elements // cols if cols else 0
    step = max(1, chunk_elements // max(cols, 1))
    with ref.file.open("rb") as fh:
        fh.seek(ref.offset)
        for start in range(0, rows, step):
            n = min(step, rows - start)
            buf = np.empty(n * cols, dtype=np_dtype)
            got = fh.readinto(memoryview(buf).cast("B"))
            if got != n * cols * itemsize:
                raise ConversionError(f"{ref.file.name} ended while reading tensor {ref.name}.")
            yield _to_f32(buf, ref.dtype).reshape(n, cols)


def read_f32(ref: TensorRef) -> np.ndarray:
    """The whole tensor as float32 in its own shape (for small tensors and transforms)."""
    out = np.concatenate(list(iter_rows_f32(ref))) if ref.n_elements else np.empty(0, np.float32)
    return out.reshape(ref.shape)
