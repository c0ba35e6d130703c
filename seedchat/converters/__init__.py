"""Hugging Face checkpoint → GGUF conversion (installed as ``seedchat.converters``).

Public API::

    from seedchat.converters import convert_checkpoint, ConvertProgress, QUANT_TYPES
    path = convert_checkpoint("path/to/Seed-OSS-36B-Instruct", quant="Q4_K_M", progress=print)
    path = convert_checkpoint("...", quant="Q2_K_S", imatrix="imatrix.gguf")  # llama-imatrix's
"""

from seedchat.converters.convert import (
    DEFAULT_QUANT,
    ONE_PASS_TYPES,
    QUANT_TYPES,
    TWO_PASS_TYPES,
    ConversionCancelled,
    ConvertProgress,
    convert_checkpoint,
    default_output,
    disk_needed,
)
from seedchat.converters.imatrix import ImportanceMatrix, read_imatrix

__all__ = [
    "DEFAULT_QUANT",
    "ONE_PASS_TYPES",
    "QUANT_TYPES",
    "TWO_PASS_TYPES",
    "ConversionCancelled",
    "ConvertProgress",
    "ImportanceMatrix",
    "convert_checkpoint",
    "default_output",
    "disk_needed",
    "read_imatrix",
]
