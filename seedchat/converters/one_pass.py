"""One-pass quantization: each tensor read, quantized and written straight into the final GGUF.

llama.cpp's own route to a K-quant writes a 16-bit GGUF first and quantizes it in a second
pass. Here the converter asks :mod:`.quant_types` for each tensor's type (llama.cpp's
rules), and while gguf-py's writer writes the tensor, :class:`StreamedTensor` reads its rows
from the safetensors file as float32 (bf16 and f16 widen exactly, so the rows are the ones
llama.cpp's quantizer would read back from the 16-bit file), has ggml quantize them
(:mod:`.ggml_quants`) and writes the bytes: one block of rows at a time, the next block
read while this one is quantized. Only the final file is written, and memory holds two
blocks of rows and their quantized bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import gguf
import numpy as np

from seedchat.converters import architectures as arch
from seedchat.converters import ggml_quants, quant_types
from seedchat.converters.imatrix import ImportanceMatrix
from seedchat.converters.safetensors_reader import TensorRef, iter_rows_f32, read_f32
from seedchat.errors import ConversionError

log = logging.getLogger(__name__)

Q = gguf.GGMLQuantizationType
#: float32 values per block of rows (16 MiB); two blocks are in memory at once
BLOCK_ELEMENTS = 1 << 22
IMATRIX_HINT = (
    "Pass --imatrix FILE: an importance matrix for this model made by llama.cpp's "
    "llama-imatrix (GGUF or .dat), or choose a type that does not need one, such as Q2_K."
)


def quant_shape(spec: arch.ArchSpec, config: dict[str, Any]) -> quant_types.QuantShape:
    """The hyperparameters llama.cpp's type rules look at, from ``config.json``."""
    n_layers = int(config["num_hidden_layers"])
    n_head = int(config["num_attention_heads"])
    n_head_kv = int(config.get("num_key_value_heads") or n_head)
    is_70b = spec.gguf_arch == gguf.MODEL_ARCH.LLAMA and n_layers == 80 and n_head != n_head_kv
    return quant_types.QuantShape(n_layers, n_head, n_head_kv, is_70b)


def tensor_nbytes(shape: Sequence[int], t: Q) -> int:
    """Bytes of a tensor of numpy ``shape`` in type ``t``."""
    block, size = gguf.GGML_QUANT_SIZES[t]
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    return n // block * size


def check_imatrix(
    quant: str,
    names: Sequence[str],
    shapes: Sequence[Sequence[int]],
    types: Sequence[Q],
    imatrix: ImportanceMatrix | None,
) -> list[np.ndarray | None]:
    """Each tensor's importance values (or None), as llama.cpp's quantizer picks them;
    ConversionError where a type needs an imatrix that is not there, or one does not fit."""
    found: list[np.ndarray | None] = []
    for name, shape, t in zip(names, shapes, types, strict=True):
        values = imatrix.for_tensor(name) if imatrix and t != Q.F32 else None
        if values is not None and values.size != int(shape[-1]):
            if quant_types.category(name) != "token_embd":  # llama.cpp ignores that one
                raise ConversionError(
                    f"The importance matrix {imatrix.path.name} has {values.size} values "
                    f"for {name}, whose rows have {shape[-1]}.",
                    hint="It was made for another model: use one made for this checkpoint.",
                )
            values = None
        if values is None and quant_types.tensor_requires_imatrix(
            name, t, quant, ggml_quants.type_requires_imatrix
        ):
            where = f"{imatrix.path.name} has no entry for it" if imatrix else "none was given"
            raise ConversionError(
                f"{quant} quantizes {name} to {t.name}, which needs an importance matrix, "
                f"and {where}.",
                hint=IMATRIX_HINT,
            )
        found.append(values)
    if imatrix:
        _log_missing(imatrix, names, types, found)
    return found


def _log_missing(
    imatrix: ImportanceMatrix,
    names: Sequence[str],
    types: Sequence[Q],
    found: Sequence[np.ndarray | None],
) -> None:
    missing = [n for n, v, t in zip(names, found, types, strict=True) if v is None and t != Q.F32]
    if missing:
        log.info(
            "%s has no entry for %d tensors (they are quantized without one): %s",
            imatrix.path.name,
            len(missing),
            ", ".join(missing[:5]),
        )


@dataclass(frozen=True)
class TensorJob:
    """One tensor of the output: where it comes from, its type and its importance values."""

    ref: TensorRef
    qtype: Q
    transform: Callable[[np.ndarray], np.ndarray] | None = None
    imatrix: np.ndarray | None = None


def row_blocks(job: TensorJob, block_elements: int = 0) -> Iterator[np.ndarray]:
    """The tensor's rows as float32 blocks ``(rows, cols)``, transformed if it needs it."""
    block_elements = block_elements or BLOCK_ELEMENTS
    ref = job.ref
    cols = ref.shape[-1] if len(ref.shape) >= 2 else ref.n_elements
    if job.transform is None:
        yield from iter_rows_f32(ref, block_elements)
        return
    whole = job.transform(read_f32(ref)).reshape(-1, cols)
    step = max(1, block_elements // max(cols, 1))
    for start in range(0, whole.shape[0], step):
        yield whole[start : start + step]


class StreamedTensor:
    """A tensor's bytes, made while gguf-py's writer writes them.

    ``GGUFWriter.write_tensor_data`` takes an array and uses its ``nbytes`` and
    ``tofile(fout)`` (between the alignment padding it writes itself); this object has
    both, and its ``tofile`` reads, quantizes and writes the tensor block by block.
    ``on_block(source_bytes)`` is called after each block is written (progress, cancel).
    """

    def __init__(
        self,
        job: TensorJob,
        quantizer: ggml_quants.Quantizer,
        on_block: Callable[[int], None] | None = None,
    ) -> None:
        self.job = job
        self.quantizer = quantizer
        self.on_block = on_block
        self.nbytes = tensor_nbytes(job.ref.shape, job.qtype)

    def tofile(self, fout: IO[bytes]) -> None:
        if self.job.qtype == Q.F32:
            for block in row_blocks(self.job):
                self._write(fout, np.ascontiguousarray(block, np.float32), block.size)
            return
        inflight: list[tuple[ggml_quants.Pending, int]] = []
        try:
            for block in row_blocks(self.job):
                inflight.append(
                    (self.quantizer.submit(self.job.qtype, block, self.job.imatrix), block.size)
                )
                if len(inflight) > 1:  # the next block is read while this one is quantized
                    done, values = inflight.pop(0)
                    self._write(fout, done.result(), values)
            while inflight:
                done, values = inflight.pop(0)
                self._write(fout, done.result(), values)
        finally:
            for pending, _ in inflight:
                pending.cancel()

    def _write(self, fout: IO[bytes], data: np.ndarray, values: int) -> None:
        fout.write(memoryview(data).cast("B"))
        if self.on_block is not None:
            ref = self.job.ref
            self.on_block(values * ref.nbytes // max(ref.n_elements, 1))
