"""ggml's own quantizers, called in-process through ctypes, rows spread over the cores.

llama.cpp's quantizer (``llama_model_quantize``) turns float32 rows into a quantized type
with ``ggml_quantize_chunk`` from ``libggml-base``, the library llama-cpp-python ships
beside llama.cpp (:func:`seedchat.backend.load_ggml_base`). Calling the same function on
the same float32 rows gives the same bytes: each row is quantized on its own, so cutting a
tensor into blocks of rows, and the blocks into parts for the threads, changes nothing.
ctypes releases the GIL during each call, so the parts run on all cores at once.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor

import gguf
import numpy as np

from seedchat.backend import load_ggml_base
from seedchat.errors import ConversionError

log = logging.getLogger(__name__)

Q = gguf.GGMLQuantizationType
MAX_THREADS = 64
#: rows are shared out in parts of about this many values, taken by whichever thread is
#: free (as llama.cpp's quantizer does with its chunks), so a core busy with other work
#: does not hold the others up
PART_VALUES = 1 << 18

_bound: list[ctypes.CDLL] = []


def _lib() -> ctypes.CDLL:
    if not _bound:
        lib = load_ggml_base()
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        lib.ggml_quantize_chunk.argtypes = [
            ctypes.c_int,  # enum ggml_type
            ctypes.c_void_p,  # const float * src
            ctypes.c_void_p,  # void * dst
            ctypes.c_int64,  # start
            ctypes.c_int64,  # nrows
            ctypes.c_int64,  # n_per_row
            ctypes.c_void_p,  # const float * imatrix
        ]
        lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
        lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
        lib.ggml_quantize_init.restype = None
        lib.ggml_quantize_init.argtypes = [ctypes.c_int]
        lib.ggml_row_size.restype = ctypes.c_size_t
        lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
        lib.ggml_validate_row_data.restype = ctypes.c_bool
        lib.ggml_validate_row_data.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
        _bound.append(lib)
    return _bound[0]


def type_requires_imatrix(t: Q) -> bool:
    """``ggml_quantize_requires_imatrix``: can ggml quantize to ``t`` only with an imatrix?"""
    return bool(_lib().ggml_quantize_requires_imatrix(int(t)))


def row_size(t: Q, n_cols: int) -> int:
    """Bytes of one row of ``n_cols`` values in type ``t`` (``ggml_row_size``)."""
    return int(_lib().ggml_row_size(int(t), n_cols))


def default_threads() -> int:
    """One thread per core this process may run on (its CPU affinity), at most 64."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


class Quantizer:
    """Quantizes blocks of float32 rows with ggml, in parts spread over a pool of threads.

    ``submit`` starts a block and returns at once, so the caller can read the next block
    while this one is quantized; ``result`` waits for it. Use as a context manager.
    """

    def __init__(self, threads: int = 0) -> None:
        self.lib = _lib()
        self.threads = threads if threads > 0 else default_threads()
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ggml-quantize")
        self._ready: set[int] = set()

    def __enter__(self) -> Quantizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, t: Q, rows: np.ndarray, imatrix: np.ndarray | None = None) -> Pending:
        """Start quantizing ``rows`` (float32, ``(n, cols)``, C order) to ``t``."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        n, cols = rows.shape
        if imatrix is not None:
            imatrix = np.ascontiguousarray(imatrix, dtype=np.float32)
            if imatrix.size != cols:
                raise ValueError(f"imatrix has {imatrix.size} values for rows of {cols}")
        if int(t) not in self._ready:
            self.lib.ggml_quantize_init(int(t))  # grids for the types that have them
            self._ready.add(int(t))
        out = np.empty((n, row_size(t, cols)), dtype=np.uint8)
        per_part = max(1, PART_VALUES // cols)  # whole rows
        bounds = [*range(0, n, per_part), n]
        futures = [
            self._pool.submit(self._part, t, rows, out, imatrix, a, b)
            for a, b in itertools.pairwise(bounds)
            if b > a
        ]
        return Pending(out, futures, rows, imatrix)

    def quantize(self, t: Q, rows: np.ndarray, imatrix: np.ndarray | None = None) -> np.ndarray:
        """Quantize ``rows`` to ``t`` and return the bytes, ``(n, row_size)``."""
        return self.submit(t, rows, imatrix).result()

    def _part(
        self, t: Q, rows: np.ndarray, out: np.ndarray, imatrix: np.ndarray | None, a: int, b: int
    ) -> None:
        cols = rows.shape[1]
        src = rows[a:b].ctypes.data
        dst = out[a:b].ctypes.data
        im = imatrix.ctypes.data if imatrix is not None else None
        size = self.lib.ggml_quantize_chunk(int(t), src, dst, 0, b - a, cols, im)
        if size != (b - a) * out.shape[1]:
            raise ConversionError(f"ggml quantized {size} bytes where {t.name} needs more.")
        if not self.lib.ggml_validate_row_data(int(t), dst, size):
            raise ConversionError(
                f"ggml's check of the {t.name} data failed (NaN or infinite values?).",
                hint="The checkpoint may hold NaN or infinite weights; check its source.",
            )


class Pending:
    """A block being quantized; ``result()`` waits and returns its bytes."""

    def __init__(
        self,
        out: np.ndarray,
        futures: list[Future],
        rows: np.ndarray,
        imatrix: np.ndarray | None,
    ) -> None:
        self.out = out
        self._futures = futures
        self._keep = (rows, imatrix)  # the C calls read them until they finish

    def result(self) -> np.ndarray:
        for f in self._futures:
            f.result()
        self._keep = None
        return self.out

    def cancel(self) -> None:
        for f in self._futures:
            f.cancel()
        for f in self._futures:
            if not f.cancelled():
                f.exception()  # wait: a running part still writes into ``out``
