"""K-quants through llama.cpp's own quantizer (``llama_model_quantize``).

llama.cpp reports no progress while it quantizes, so progress is estimated by watching
the output file grow against the size the chosen type should give.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from pathlib import Path

from seedchat.backend import load_backend
from seedchat.errors import ConversionError

#: quant name → (llama_ftype constant name, approximate bits per weight)
K_QUANTS: dict[str, tuple[str, float]] = {
    "Q6_K": ("LLAMA_FTYPE_MOSTLY_Q6_K", 6.56),
    "Q5_K_M": ("LLAMA_FTYPE_MOSTLY_Q5_K_M", 5.69),
    "Q4_K_M": ("LLAMA_FTYPE_MOSTLY_Q4_K_M", 4.89),
    "Q4_K_S": ("LLAMA_FTYPE_MOSTLY_Q4_K_S", 4.58),
    "Q3_K_M": ("LLAMA_FTYPE_MOSTLY_Q3_K_M", 3.91),
    "Q2_K": ("LLAMA_FTYPE_MOSTLY_Q2_K", 2.96),
}


def estimated_size(quant: str, n_params: int) -> int:
    return int(n_params * K_QUANTS[quant][1] / 8)


def quantize(
    src: Path,
    dst: Path,
    quant: str,
    n_params: int,
    threads: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Quantize the GGUF ``src`` to ``dst`` with llama.cpp; raises ConversionError on failure."""
    llama_cpp = load_backend()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, K_QUANTS[quant][0])
    params.nthread = threads
    expected = estimated_size(quant, n_params)
    result: list[int] = []

    def work() -> None:
        result.append(
            llama_cpp.llama_model_quantize(
                str(src).encode("utf-8"), str(dst).encode("utf-8"), ctypes.byref(params)
            )
        )

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
            hint="Try another quantization type, or F16/Q8_0 which seedchat writes itself.",
        )
    if on_progress is not None:
        on_progress(expected, expected)
    time.sleep(0)  # let the caller's progress render before returning
