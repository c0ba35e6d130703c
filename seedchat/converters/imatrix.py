"""Importance matrices (``--imatrix``) in llama.cpp's two formats, read as llama-quantize does.

An importance matrix holds, for each weight matrix, how much each input column matters
(the mean of its squared activations over some text), as made by llama.cpp's
``llama-imatrix``. Two formats exist (``tools/imatrix/imatrix.cpp``):

- **GGUF** (the default since 2025): for each weight ``W`` a tensor ``W.in_sum2`` (sums of
  squared activations, one row per expert) and ``W.counts`` (how many tokens each row
  saw), with the keys ``imatrix.datasets``, ``imatrix.chunk_count`` and
  ``imatrix.chunk_size``;
- **legacy .dat**: ``int32`` entry count; per entry ``int32`` name length, the name,
  ``int32`` ncall, ``int32`` value count, the values (``mean * ncall``) as float32; then,
  optionally, ``int32`` chunk count, ``int32`` length and the dataset's name.

:func:`read_imatrix` gives the per-column values llama-quantize computes from each
(``load_imatrix`` in ``tools/quantize/quantize.cpp``: ``sums / count`` per row, 1 where
the count is 0; legacy: ``values / ncall``), in float32 like llama.cpp. The writers make
such files for tests and tools.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np

from seedchat.errors import ConversionError

log = logging.getLogger(__name__)

SUMS, COUNTS = ".in_sum2", ".counts"
KEY_DATASETS, KEY_CHUNK_COUNT, KEY_CHUNK_SIZE = (
    "imatrix.datasets",
    "imatrix.chunk_count",
    "imatrix.chunk_size",
)
HINT = "Make it with llama.cpp's llama-imatrix for this model, or leave out --imatrix."


@dataclass
class ImportanceMatrix:
    """Per-column importance of each weight (GGUF tensor name → float32 values)."""

    path: Path
    values: dict[str, np.ndarray]
    datasets: list[str] = field(default_factory=list)
    chunk_count: int = 0
    legacy: bool = False

    def for_tensor(self, name: str) -> np.ndarray | None:
        return self.values.get(name)


def _bad(path: Path, what: str) -> ConversionError:
    return ConversionError(f"{path.name} is not a usable importance matrix: {what}.", hint=HINT)


def read_imatrix(path: str | Path) -> ImportanceMatrix:
    """Read an importance matrix file (GGUF or legacy .dat); ConversionError if unusable."""
    path = Path(path).expanduser()
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ConversionError(
            f"Cannot read the importance matrix {path}: {exc.strerror or exc}",
            hint="Check the path given to --imatrix.",
        ) from exc
    matrix = _read_gguf(path) if magic == b"GGUF" else _read_legacy(path)
    for name, values in matrix.values.items():
        if not np.isfinite(values).all():
            raise _bad(path, f"the entry {name} holds NaN or infinite values")
    log.info("importance matrix %s: %d entries", path.name, len(matrix.values))
    return matrix


def _field(reader: gguf.GGUFReader, key: str) -> object:
    f = reader.get_field(key)
    return None if f is None else f.contents()


def _lround(x: np.ndarray) -> np.ndarray:
    return np.trunc(x + np.copysign(0.5, x)).astype(np.int64)


def _read_gguf(path: Path) -> ImportanceMatrix:
    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as exc:  # gguf-py raises plain ValueErrors and struct errors
        raise _bad(path, f"its GGUF structure is broken ({exc})") from exc
    if any(_field(reader, k) is None for k in (KEY_DATASETS, KEY_CHUNK_COUNT, KEY_CHUNK_SIZE)):
        raise _bad(path, "it lacks the imatrix.* metadata llama-imatrix writes")
    tensors = {t.name: t for t in reader.tensors}
    if not tensors:
        raise _bad(path, "it holds no data")
    values: dict[str, np.ndarray] = {}
    for name in sorted({n.removesuffix(SUMS).removesuffix(COUNTS) for n in tensors}):
        sums, counts = tensors.get(name + SUMS), tensors.get(name + COUNTS)
        if sums is None or counts is None:
            raise _bad(path, f"the sums and counts of {name} do not match")
        if sums.tensor_type != gguf.GGMLQuantizationType.F32 or (
            counts.tensor_type != gguf.GGMLQuantizationType.F32
        ):
            raise _bad(path, f"the sums and counts of {name} must be F32")
        values[name] = _normalize(np.asarray(sums.data, np.float32).ravel(), counts.data)
    datasets = _field(reader, KEY_DATASETS)
    return ImportanceMatrix(
        path,
        values,
        datasets=[str(d) for d in datasets] if isinstance(datasets, list) else [],
        chunk_count=int(_field(reader, KEY_CHUNK_COUNT)),
    )


def _normalize(sums: np.ndarray, counts_f32: np.ndarray) -> np.ndarray:
    """``sums / count`` per expert row, 1 where nothing was counted (llama-quantize)."""
    counts = _lround(np.asarray(counts_f32, np.float32).ravel().astype(np.float64))
    rows = sums.reshape(len(counts), -1)
    out = np.ones_like(rows)
    seen = counts > 0
    out[seen] = rows[seen] / counts[seen].astype(np.float32)[:, None]
    return out.ravel()


def _read_legacy(path: Path) -> ImportanceMatrix:
    data = path.read_bytes()
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise _bad(path, "it ends too early (neither GGUF nor a complete legacy .dat file)")
        out = struct.unpack_from(fmt, data, pos)
        pos += size
        return out

    (n_entries,) = take("<i")
    if n_entries < 1:
        raise _bad(path, "it holds no data")
    values: dict[str, np.ndarray] = {}
    for _ in range(n_entries):
        (length,) = take("<i")
        (raw,) = take(f"<{max(length, 0)}s")
        ncall, nval = take("<ii")
        if nval < 1:
            raise _bad(path, "an entry has no values")
        start = pos
        take(f"<{4 * nval}x")
        sums = np.frombuffer(data, "<f4", nval, start).astype(np.float32)
        name = raw.split(b"\0")[0].decode("utf-8", "replace")
        values[name] = sums / np.float32(ncall) if ncall > 0 else sums
    chunk_count, dataset = 0, []
    if pos + 4 <= len(data):
        (chunk_count,) = take("<i")
        if pos + 4 <= len(data):
            (length,) = take("<i")
            if 0 < length <= len(data) - pos:
                dataset = [data[pos : pos + length].decode("utf-8", "replace")]
    return ImportanceMatrix(path, values, dataset, chunk_count, legacy=True)


def write_imatrix_gguf(
    path: str | Path,
    sums: Mapping[str, np.ndarray],
    counts: Mapping[str, Sequence[float]],
    datasets: Sequence[str] = ("seedchat",),
    chunk_count: int = 1,
    chunk_size: int = 512,
) -> Path:
    """Write an imatrix in llama-imatrix's GGUF layout: ``sums[name]`` is ``(n_expert,
    n_cols)`` (or ``(n_cols,)``), ``counts[name]`` one count per expert."""
    path = Path(path)
    writer = gguf.GGUFWriter(path, "imatrix")
    writer.kv_data[0].pop(gguf.Keys.General.ARCHITECTURE, None)  # llama-imatrix has none
    writer.add_string("general.type", "imatrix")
    writer.add_array(KEY_DATASETS, list(datasets))
    writer.add_uint32(KEY_CHUNK_COUNT, chunk_count)
    writer.add_uint32(KEY_CHUNK_SIZE, chunk_size)
    for name in sorted(sums):
        s = np.asarray(sums[name], np.float32)
        s = s.reshape(len(counts[name]), -1)
        writer.add_tensor(name + SUMS, s)
        writer.add_tensor(name + COUNTS, np.asarray(counts[name], np.float32).reshape(-1, 1))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_imatrix_dat(
    path: str | Path,
    means: Mapping[str, np.ndarray],
    ncall: int = 1,
    chunk_count: int = 1,
    dataset: str = "seedchat",
) -> Path:
    """Write an imatrix in the legacy .dat layout (values stored as ``mean * ncall``)."""
    out = bytearray(struct.pack("<i", len(means)))
    for name, mean in means.items():
        raw = name.encode("utf-8")
        stored = np.asarray(mean, np.float32) * np.float32(ncall)
        out += struct.pack("<i", len(raw)) + raw + struct.pack("<ii", ncall, stored.size)
        out += stored.astype("<f4").tobytes()
    out += struct.pack("<i", chunk_count)
    raw = dataset.encode("utf-8")
    out += struct.pack("<i", len(raw)) + raw
    path = Path(path)
    path.write_bytes(bytes(out))
    return path
