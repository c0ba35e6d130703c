"""The two-pass route: llama.cpp's own quantizer (``llama_model_quantize``) on a 16-bit GGUF.

seedchat quantizes the K-quants, Q8_0 and Q4_0 in one pass (:mod:`.one_pass`). The IQ4
types follow rules :mod:`.quant_types` does not transcribe, so for them the converter
writes a 16-bit intermediate and hands it to llama.cpp, which needs the disk for both
files. llama.cpp reports no progress while it quantizes, so progress is estimated by
watching the output file grow against the size the chosen type should give.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from seedchat.backend import load_backend
from seedchat.errors import ConversionError

#: quant name → (llama_ftype constant name, approximate bits per weight)
TWO_PASS: dict[str, tuple[str, float]] = {
    "IQ4_XS": ("LLAMA_FTYPE_MOSTLY_IQ4_XS", 4.46),
    "IQ4_NL": ("LLAMA_FTYPE_MOSTLY_IQ4_NL", 4.68),
}


def estimated_size(quant: str, n_params: int) -> int:
    return int(n_params * TWO_PASS[quant][1] / 8)


def _imatrix_array(values: Mapping[str, np.ndarray]) -> tuple[ctypes.Array, list]:
    """llama.cpp's ``llama_model_imatrix_data`` list, ended by an entry without a name."""
    llama_cpp = load_backend()
    entries = (llama_cpp.llama_model_imatrix_data * (len(values) + 1))()
    keep: list = []
    for i, (name, v) in enumerate(values.items()):
        arr = np.ascontiguousarray(v, dtype=np.float32)
        keep.append(arr)
        entries[i].name = name.encode("utf-8")
        entries[i].data = arr.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        entries[i].size = arr.size
    return entries, keep


def llama_quantize(
    src: Path,
    dst: Path,
    ftype: int,
    threads: int = 0,
    imatrix: Mapping[str, np.ndarray] | None = None,
) -> int:
    """``llama_model_quantize(src, dst)`` to the llama_ftype ``ftype``; 0 on success."""
    llama_cpp = load_backend()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    keep = None
    if imatrix is not None:
        entries, keep = _imatrix_array(imatrix)
        params.imatrix = ctypes.cast(entries, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))
    result = llama_cpp.llama_model_quantize(
        str(src).encode("utf-8"), str(dst).encode("utf-8"), ctypes.byref(params)
    )
    del keep
    return int(result)


def quantize(
    src: Path,
    dst: Path,
    quant: str,
    n_params: int,
    threads: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    imatrix: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Quantize the GGUF ``src`` to ``dst`` with llama.cpp; raises ConversionError on failure."""
    llama_cpp = load_backend()
    ftype = getattr(llama_cpp, TWO_PASS[quant][0])
    expected = estimated_size(quant, n_params)
    result: list[int] = []

    def work() -> None:
        result.append(llama_quantize(src, dst, ftype, threads, imatrix))

    thread = threading.Thread(target=work, name="llama-quantize", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.25)
        if on_progress is not None:
            size = dst.stat().st_size if dst.exists() else 0
            on_progress(min(size, expected), expected)
    if not result or result[0] != 0:
        raise ConversionError(
            f"llama.cpp could not quantize {src.name} to {quant} (error {result[:1]}).",
            hint="Try another quantization type, such as Q4_K_M, which seedchat writes itself.",
        )
    if on_progress is not None:
        on_progress(expected, expected)
