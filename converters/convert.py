"""Convert a Hugging Face Seed checkpoint into a GGUF file.

:func:`convert_checkpoint` reads the checkpoint one tensor at a time (see
:mod:`.safetensors_reader`), writes it with gguf-py's :class:`gguf.GGUFWriter` in its
staged protocol (header, metadata, tensor table, then each tensor's data), and, for the
K-quants, hands an intermediate 16-bit file to llama.cpp's quantizer. Output goes to a
hidden temporary file beside the target and is renamed only when complete, so an
interrupted run never leaves a file under the final name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from seedchat.converters import architectures as arch
from seedchat.converters import hub, quantize
from seedchat.converters.safetensors_reader import (
    TensorRef,
    index_checkpoint,
    iter_rows_f32,
    read_f32,
)
from seedchat.converters.tokenizer import write_tokenizer
from seedchat.errors import ConversionError
from seedchat.models import human_size
from seedchat.paths import free_bytes, get_paths

log = logging.getLogger(__name__)

Q = gguf.GGMLQuantizationType
DIRECT_TYPES: dict[str, tuple[Q, gguf.LlamaFileType]] = {
    "F32": (Q.F32, gguf.LlamaFileType.ALL_F32),
    "F16": (Q.F16, gguf.LlamaFileType.MOSTLY_F16),
    "BF16": (Q.BF16, gguf.LlamaFileType.MOSTLY_BF16),
    "Q8_0": (Q.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
}
QUANT_TYPES: tuple[str, ...] = (*DIRECT_TYPES, *quantize.K_QUANTS)
DEFAULT_QUANT = "Q4_K_M"
_BYTES_PER_ELEMENT = {Q.F32: 4.0, Q.F16: 2.0, Q.BF16: 2.0, Q.Q8_0: 34 / 32}
DISK_MARGIN = 32 * 2**20


@dataclass(frozen=True)
class ConvertProgress:
    """One progress report of a conversion."""

    stage: str  # "download" | "convert" | "quantize" | "done"
    done: int  # units done in this stage (tensors while converting, bytes while quantizing)
    total: int
    bytes_done: int = 0
    bytes_total: int = 0
    tensor: str = ""
    message: str = ""


class ConversionCancelled(ConversionError):
    """The user cancelled a conversion; nothing was left behind."""


ProgressFn = Callable[[ConvertProgress], None]


@dataclass
class _Plan:
    spec: arch.ArchSpec
    config: dict[str, Any]
    refs: list[TensorRef]
    names: list[str]  # GGUF name for each ref
    types: list[Q]


def _load_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise ConversionError(
            f"The checkpoint has no {path.name} ({path.parent}).",
            hint=f"Download the complete checkpoint: the {what} is needed.",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"{path} is not valid JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise ConversionError(f"{path} does not hold a JSON object.")
    return data


def _tensor_type(quant: str, shape: tuple[int, ...], source_bf16: bool) -> Q:
    if quant in quantize.K_QUANTS:  # the 16-bit intermediate for llama.cpp's quantizer
        quant = "BF16" if source_bf16 else "F16"
    target = DIRECT_TYPES[quant][0]
    if len(shape) < 2 or target == Q.F32:
        return Q.F32
    if target == Q.Q8_0 and shape[-1] % 32:
        return Q.F16
    return target


def _plan(src: Path, quant: str) -> _Plan:
    config = _load_json(src / "config.json", "model configuration")
    spec = arch.spec_for(config, str(src / "config.json"))
    refs = index_checkpoint(src)
    n_blocks = int(config.get("num_hidden_layers", 0))
    name_map = gguf.get_tensor_name_map(spec.gguf_arch, n_blocks)
    source_bf16 = any(r.dtype == "BF16" for r in refs)
    kept, names, types = [], [], []
    for ref in refs:
        name = arch.gguf_tensor_name(name_map, ref.name)
        if name is None:
            if not ref.name.endswith("rotary_emb.inv_freq"):
                raise ConversionError(
                    f"{ref.file.name}: tensor {ref.name} has no place in the {spec.arch_name} "
                    "GGUF layout.",
                    hint=f"Is this really a {spec.hf_arch} checkpoint?",
                )
            continue
        kept.append(ref)
        names.append(name)
        types.append(_tensor_type(quant, ref.shape, source_bf16))
    return _Plan(spec, config, kept, names, types)


def _encode(ref: TensorRef, qtype: Q, transform: Callable | None) -> np.ndarray:
    """The tensor's bytes for ``qtype``, converted block by block."""
    if qtype in (Q.F32, Q.F16):
        out = np.empty(ref.shape or (1,), dtype=np.float32 if qtype == Q.F32 else np.float16)
    else:
        out = np.empty(gguf.quant_shape_to_byte_shape(ref.shape, qtype), dtype=np.uint8)
    cols = ref.shape[-1] if len(ref.shape) >= 2 else ref.n_elements
    flat = out.reshape(ref.n_elements // max(cols, 1), -1)
    blocks = [transform(read_f32(ref)).reshape(-1, cols)] if transform else iter_rows_f32(ref)
    row = 0
    for block in blocks:
        n = block.shape[0]
        if qtype in (Q.F32, Q.F16):
            flat[row : row + n] = block
        else:
            flat[row : row + n] = gguf.quants.quantize(block, qtype)
        row += n
    return out


def _write_metadata(
    writer: gguf.GGUFWriter, plan: _Plan, src: Path, name: str, file_type: gguf.LlamaFileType
) -> None:
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_file_type(file_type)
    if file_type not in (gguf.LlamaFileType.ALL_F32, gguf.LlamaFileType.MOSTLY_F16):
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    arch.write_hparams(writer, plan.spec, plan.config, str(src / "config.json"))
    write_tokenizer(writer, src, int(plan.config["vocab_size"]))
    gen_path = src / "generation_config.json"
    if gen_path.is_file():
        gen = _load_json(gen_path, "generation settings")
        if isinstance(gen.get("temperature"), int | float):
            writer.add_sampling_temp(float(gen["temperature"]))
        if isinstance(gen.get("top_p"), int | float):
            writer.add_sampling_top_p(float(gen["top_p"]))
        if isinstance(gen.get("top_k"), int) and gen["top_k"] > 0:
            writer.add_sampling_top_k(int(gen["top_k"]))


def _estimate(plan: _Plan, quant: str) -> tuple[int, int]:
    """(bytes of the file written here, bytes of the final file) — equal unless K-quant."""
    written = sum(
        int(r.n_elements * _BYTES_PER_ELEMENT[t])
        for r, t in zip(plan.refs, plan.types, strict=True)
    )
    written += 16 * 2**20  # metadata: vocabulary, merges, template
    if quant in quantize.K_QUANTS:
        return written, quantize.estimated_size(quant, sum(r.n_elements for r in plan.refs))
    return written, written


def default_output(src_label: str, quant: str) -> Path:
    base = re.sub(r"[^\w.-]+", "-", src_label.rstrip("/").split("/")[-1]).strip("-") or "model"
    return get_paths().models / f"{base}-{quant}.gguf"


def _resolve_source(src: str | Path, progress: ProgressFn | None) -> tuple[Path, str]:
    path = Path(src).expanduser()
    if path.is_dir():
        return path, path.resolve().name
    if path.exists():
        raise ConversionError(
            f"{path} is a file; seedchat converts a checkpoint folder (config.json, "
            "tokenizer.json and *.safetensors) or a Hugging Face hub id."
        )
    if hub.looks_like_repo_id(str(src)):
        if progress:
            progress(ConvertProgress("download", 0, 1, message=f"Downloading {src}"))
        return hub.download(str(src)), str(src)
    raise ConversionError(
        f"{src} is neither a checkpoint folder nor a Hugging Face hub id (like org/name).",
        hint="Check the path.",
    )


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ConversionCancelled("Conversion cancelled; no file was written.")


def convert_checkpoint(
    src: str | Path,
    out: str | Path | None = None,
    quant: str = DEFAULT_QUANT,
    force: bool = False,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Convert ``src`` (folder or hub id) to a GGUF file of type ``quant``; return its path."""
    quant = quant.upper()
    if quant not in QUANT_TYPES:
        raise ConversionError(
            f"Unknown quantization type {quant}.", hint=f"Choose one of: {', '.join(QUANT_TYPES)}."
        )
    source, label = _resolve_source(src, progress)
    target = Path(out).expanduser() if out else default_output(label, quant)
    if target.exists() and not force:
        raise ConversionError(
            f"{target} already exists.", hint="Pass --force to overwrite it, or choose -o."
        )
    plan = _plan(source, quant)
    written, final = _estimate(plan, quant)
    target.parent.mkdir(parents=True, exist_ok=True)
    need = written + (final if quant in quantize.K_QUANTS else 0) + DISK_MARGIN
    free = free_bytes(target.parent)
    if free is not None and free < need:
        raise ConversionError(
            f"Not enough disk space in {target.parent}: the conversion needs about "
            f"{human_size(need)}, {human_size(free)} is free.",
            hint="Free some space or choose another output folder with -o.",
        )
    tmp = target.parent / f".{target.name}.{os.getpid()}.partial"
    tmp16 = target.parent / f".{target.name}.{os.getpid()}.f16.partial"
    try:
        if quant in quantize.K_QUANTS:
            _write_gguf(plan, source, label, tmp16, quant, progress, cancel)
            _check_cancel(cancel)

            def on_bytes(done: int, total: int) -> None:
                if progress:
                    progress(ConvertProgress("quantize", done, total, done, total, message=quant))

            quantize.quantize(
                tmp16, tmp, quant, sum(r.n_elements for r in plan.refs), on_progress=on_bytes
            )
        else:
            _write_gguf(plan, source, label, tmp, quant, progress, cancel)
        _check_cancel(cancel)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        tmp16.unlink(missing_ok=True)
    if progress:
        size = target.stat().st_size
        progress(ConvertProgress("done", 1, 1, size, size, message=str(target)))
    log.info("wrote %s (%s)", target, human_size(target.stat().st_size))
    return target


def _write_gguf(
    plan: _Plan,
    source: Path,
    label: str,
    path: Path,
    quant: str,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
) -> None:
    file_type = DIRECT_TYPES.get(quant, (None, None))[1]
    if file_type is None:  # K-quant intermediate
        file_type = (
            gguf.LlamaFileType.MOSTLY_BF16
            if Q.BF16 in plan.types
            else gguf.LlamaFileType.MOSTLY_F16
        )
    writer = gguf.GGUFWriter(path, plan.spec.arch_name)
    try:
        _write_metadata(writer, plan, source, label, file_type)
        for ref, name, qtype in zip(plan.refs, plan.names, plan.types, strict=True):
            if qtype in (Q.F32, Q.F16):
                dtype = np.float32 if qtype == Q.F32 else np.float16
                writer.add_tensor_info(
                    name, ref.shape, np.dtype(dtype), ref.n_elements * np.dtype(dtype).itemsize
                )
            else:
                byte_shape = gguf.quant_shape_to_byte_shape(ref.shape, qtype)
                writer.add_tensor_info(
                    name, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), raw_dtype=qtype
                )
        writer.write_header_to_file(path)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        total_bytes = sum(r.nbytes for r in plan.refs)
        done_bytes, started = 0, time.monotonic()
        for i, (ref, qtype) in enumerate(zip(plan.refs, plan.types, strict=True)):
            _check_cancel(cancel)
            transform = arch.tensor_transform(plan.spec, plan.config, ref.name)
            writer.write_tensor_data(_encode(ref, qtype, transform))
            done_bytes += ref.nbytes
            if progress:
                progress(
                    ConvertProgress(
                        "convert", i + 1, len(plan.refs), done_bytes, total_bytes, tensor=ref.name
                    )
                )
        log.debug("converted %d tensors in %.1f s", len(plan.refs), time.monotonic() - started)
    except OSError as exc:
        raise ConversionError(
            f"Writing {path.parent} failed: {exc.strerror or exc}",
            hint="Check the free disk space and the folder's permissions.",
        ) from exc
    finally:
        writer.close()
