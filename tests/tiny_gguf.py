"""A small but valid GGUF file made by code (gguf-py): metadata and two tensors, no model
that runs; for the tests that read GGUF files (listing, doctor)."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np


def write_gguf(path: Path, name: str = "tiny", ctx: int = 4096) -> Path:
    """A small but valid GGUF (metadata + two tensors) written with gguf-py."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), "seed_oss")
    w.add_name(name)
    w.add_context_length(ctx)
    w.add_block_count(1)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_chat_template("{{ messages }}")
    w.add_tensor("token_embd.weight", np.zeros((32, 16), dtype=np.float16))
    w.add_tensor("output_norm.weight", np.ones(16, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
