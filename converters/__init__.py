"""Hugging Face checkpoint → GGUF conversion (installed as ``seedchat.converters``).

Public API::

    from seedchat.converters import convert_checkpoint, ConvertProgress, QUANT_TYPES
    path = convert_checkpoint("path/to/Seed-OSS-36B-Instruct", quant="Q4_K_M", progress=print)
"""

from seedchat.converters.convert import (
    DEFAULT_QUANT,
    QUANT_TYPES,
    ConversionCancelled,
    ConvertProgress,
    convert_checkpoint,
    default_output,
)

__all__ = [
    "DEFAULT_QUANT",
    "QUANT_TYPES",
    "ConversionCancelled",
    "ConvertProgress",
    "convert_checkpoint",
    "default_output",
]
