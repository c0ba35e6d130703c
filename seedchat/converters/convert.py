"""Convert a Hugging Face Seed checkpoint into a GGUF file.

:func:`convert_checkpoint` reads the checkpoint one tensor at a time (see
:mod:`.safetensors_reader`) and writes it with gguf-py's :class:`gguf.GGUFWriter` in its
staged protocol (header, metadata, tensor table, then each tensor's data), tensors in the
order llama.cpp's quantizer writes them. Three routes, by type:

- F32, F16, BF16: written directly;
- the K-quants, Q8_0 and Q4_0 (:data:`ONE_PASS_TYPES`): each tensor quantized by ggml while
  it is read, to the type llama.cpp's rules give it (:mod:`.one_pass`): no 16-bit file;
- the IQ4 types (:data:`TWO_PASS_TYPES`): a 16-bit intermediate, then llama.cpp's own
  quantizer (:mod:`.two_pass`).

Output goes to a hidden temporary file beside the target and is renamed only when
complete, so an interrupted run never leaves a file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from seedchat.converters import architectures as arch
from seedchat.converters import ggml_quants, hub, one_pass, quant_types, two_pass
from seedchat.converters.imatrix import ImportanceMatrix, read_imatrix
from seedchat.converters.safetensors_reader import (
    TensorRef,
    index_checkpoint,
    iter_rows_f32,
    read_f32,
)
from seedchat.converters.tokenizer import write_tokenizer
from seedchat.errors import ConversionError
from seedchat.models import format_type_counts, human_size
from seedchat.paths import free_bytes, get_paths

log = logging.getLogger(__name__)

Q = gguf.GGMLQuantizationType
DIRECT_TYPES: dict[str, tuple[Q, gguf.LlamaFileType]] = {
    "F32": (Q.F32, gguf.LlamaFileType.ALL_F32),
    "F16": (Q.F16, gguf.LlamaFileType.MOSTLY_F16),
    "BF16": (Q.BF16, gguf.LlamaFileType.MOSTLY_BF16),
}
ONE_PASS_TYPES: tuple[str, ...] = tuple(quant_types.FILE_TYPES)
TWO_PASS_TYPES: tuple[str, ...] = tuple(two_pass.TWO_PASS)
QUANT_TYPES: tuple[str, ...] = (*DIRECT_TYPES, *ONE_PASS_TYPES, *TWO_PASS_TYPES)
DEFAULT_QUANT = "Q4_K_M"
DISK_MARGIN = 32 * 2**20
METADATA_RESERVE = 16 * 2**20  # vocabulary, merges, template: a few MiB at most
ALIGNMENT = 32  # gguf-py's and llama.cpp's data alignment


@dataclass(frozen=True)
class ConvertProgress:
    """One progress report of a conversion."""

    stage: str  # "download" | "convert" | "quantize" | "done"
    done: int  # units done in this stage (tensors while converting, bytes while quantizing)
    total: int
    bytes_done: int = 0
    bytes_total: int = 0
    tensor: str = ""  # the GGUF tensor being written
    message: str = ""
    target_type: str = ""  # the type that tensor is written in ("Q4_K", "Q6_K", "F32", …)


class ConversionCancelled(ConversionError):
    """The user cancelled a conversion; nothing was left behind."""


#: Told each report of a conversion.
ConvertProgressFn = Callable[[ConvertProgress], None]


@dataclass
class _Plan:
    spec: arch.ArchSpec
    config: dict[str, Any]
    refs: list[TensorRef]  # in llama.cpp's tensor order
    names: list[str]  # GGUF name for each ref
    types: list[Q] = field(default_factory=list)
    imatrix: list[np.ndarray | None] = field(default_factory=list)


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


def _sixteen_bit(refs: list[TensorRef]) -> Q:
    """The 16-bit type that keeps this checkpoint's values: BF16 for bf16 weights."""
    return Q.BF16 if any(r.dtype == "BF16" for r in refs) else Q.F16


def _direct_type(target: Q, shape: tuple[int, ...]) -> Q:
    return Q.F32 if len(shape) < 2 else target


def _index(src: Path) -> _Plan:
    config = _load_json(src / "config.json", "model configuration")
    spec = arch.spec_for(config, str(src / "config.json"))
    name_map = gguf.get_tensor_name_map(spec.gguf_arch, int(config.get("num_hidden_layers", 0)))
    kept, names = [], []
    for ref in index_checkpoint(src):
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
    order = quant_types.llama_order(names)
    return _Plan(spec, config, [kept[i] for i in order], [names[i] for i in order])


def _plan(src: Path, quant: str, matrix: ImportanceMatrix | None) -> _Plan:
    plan = _index(src)
    shapes = [r.shape for r in plan.refs]
    if quant in ONE_PASS_TYPES:
        plan.types = quant_types.tensor_types(
            quant,
            list(zip(plan.names, shapes, strict=True)),
            one_pass.quant_shape(plan.spec, plan.config),
            has_imatrix=matrix is not None,
            keep=_sixteen_bit(plan.refs),
        )
        plan.imatrix = one_pass.check_imatrix(quant, plan.names, shapes, plan.types, matrix)
        log.info("%s: %s", quant, format_type_counts(_counts(plan.types)))
    else:
        target = DIRECT_TYPES[quant][0] if quant in DIRECT_TYPES else _sixteen_bit(plan.refs)
        plan.types = [_direct_type(target, s) for s in shapes]
    return plan


def _counts(types: list[Q]) -> dict[str, int]:
    return dict(Counter(t.name for t in types))


def _encode(ref: TensorRef, qtype: Q, transform: Callable | None) -> np.ndarray:
    """The tensor's bytes for a direct type (F32, F16, BF16), converted block by block."""
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


def _file_bytes(plan: _Plan) -> int:
    """The size of the file the plan writes: its tensors, aligned, and the metadata."""
    data = sum(
        -(-one_pass.tensor_nbytes(r.shape, t) // ALIGNMENT) * ALIGNMENT
        for r, t in zip(plan.refs, plan.types, strict=True)
    )
    return data + METADATA_RESERVE


def _disk_needed(plan: _Plan, quant: str) -> int:
    """Peak disk use: the file written here, plus llama.cpp's output if it quantizes."""
    written = _file_bytes(plan)
    if quant in TWO_PASS_TYPES:
        written += two_pass.estimated_size(quant, sum(r.n_elements for r in plan.refs))
    return written + DISK_MARGIN


def disk_needed(src: str | Path, quant: str = DEFAULT_QUANT) -> int:
    """The free disk a conversion of the checkpoint folder ``src`` to ``quant`` asks for."""
    return _disk_needed(_plan(Path(src), _check_quant(quant, None), None), quant.upper())


def default_output(src_label: str, quant: str) -> Path:
    base = re.sub(r"[^\w.-]+", "-", src_label.rstrip("/").split("/")[-1]).strip("-") or "model"
    return get_paths().models / f"{base}-{quant}.gguf"


def _resolve_source(src: str | Path, progress: ConvertProgressFn | None) -> tuple[Path, str]:
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


def _check_quant(quant: str, imatrix: str | Path | None) -> str:
    quant = quant.upper()
    if quant not in QUANT_TYPES:
        raise ConversionError(
            f"Unknown quantization type {quant}.", hint=f"Choose one of: {', '.join(QUANT_TYPES)}."
        )
    if imatrix is not None and quant in DIRECT_TYPES:
        raise ConversionError(
            f"--imatrix is for the quantized types; {quant} does not use an importance matrix.",
            hint="Leave out --imatrix, or choose a quantized type such as Q4_K_M.",
        )
    return quant


def _check_disk(folder: Path, need: int) -> None:
    free = free_bytes(folder)
    if free is not None and free < need:
        raise ConversionError(
            f"Not enough disk space in {folder}: the conversion needs about "
            f"{human_size(need)}, {human_size(free)} is free.",
            hint="Free some space or choose another output folder with -o.",
        )


def convert_checkpoint(
    src: str | Path,
    out: str | Path | None = None,
    quant: str = DEFAULT_QUANT,
    force: bool = False,
    progress: ConvertProgressFn | None = None,
    cancel: threading.Event | None = None,
    imatrix: str | Path | None = None,
    threads: int = 0,
) -> Path:
    """Convert ``src`` (folder or hub id) to a GGUF file of type ``quant``; return its path.

    ``imatrix``: an importance matrix file (llama.cpp's GGUF or .dat) for the quantized
    types; ``threads``: quantizer threads (0: one per core).
    """
    quant = _check_quant(quant, imatrix)
    source, label = _resolve_source(src, progress)
    target = Path(out).expanduser() if out else default_output(label, quant)
    if target.exists() and not force:
        raise ConversionError(
            f"{target} already exists.", hint="Pass --force to overwrite it, or choose -o."
        )
    matrix = read_imatrix(imatrix) if imatrix is not None else None
    plan = _plan(source, quant, matrix)
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_disk(target.parent, _disk_needed(plan, quant))
    tmp = target.parent / f".{target.name}.{os.getpid()}.partial"
    tmp16 = target.parent / f".{target.name}.{os.getpid()}.16bit.partial"
    writing = _Writing(plan, source, label, progress, cancel, threads)
    try:
        if quant in TWO_PASS_TYPES:
            _two_pass(writing, tmp16, tmp, quant, matrix)
        else:
            writing.write(tmp, _file_type(quant))
        _check_cancel(cancel)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        tmp16.unlink(missing_ok=True)
    size = target.stat().st_size
    if progress:
        progress(ConvertProgress("done", 1, 1, size, size, message=str(target)))
    log.info("wrote %s (%s)", target, human_size(size))
    return target


def _file_type(quant: str) -> gguf.LlamaFileType:
    if quant in DIRECT_TYPES:
        return DIRECT_TYPES[quant][1]
    return quant_types.FILE_TYPES[quant].file_type


def _two_pass(
    writing: _Writing, tmp16: Path, tmp: Path, quant: str, matrix: ImportanceMatrix | None
) -> None:
    note = f"{quant}: two passes (a 16-bit file, then llama.cpp's quantizer)"
    log.info("%s; seedchat's one-pass quantizer covers %s", note, ", ".join(ONE_PASS_TYPES))
    bf16 = _sixteen_bit(writing.plan.refs) == Q.BF16
    writing.write(tmp16, DIRECT_TYPES["BF16" if bf16 else "F16"][1])
    _check_cancel(writing.cancel)

    def on_bytes(done: int, total: int) -> None:
        if writing.progress:
            writing.progress(ConvertProgress("quantize", done, total, done, total, message=note))

    n_params = sum(r.n_elements for r in writing.plan.refs)
    values = matrix.values if matrix else None
    two_pass.quantize(tmp16, tmp, quant, n_params, writing.threads, on_bytes, values)


class _Writing:
    """Writing one GGUF file of a plan: metadata, tensor table, then each tensor's data."""

    def __init__(
        self,
        plan: _Plan,
        source: Path,
        label: str,
        progress: ConvertProgressFn | None,
        cancel: threading.Event | None,
        threads: int,
    ) -> None:
        self.plan, self.source, self.label = plan, source, label
        self.progress, self.cancel, self.threads = progress, cancel, threads
        self.total_bytes = sum(r.nbytes for r in plan.refs)
        self.done_bytes = 0
        self.tensor_bytes = 0  # of the tensor being written

    def write(self, path: Path, file_type: gguf.LlamaFileType) -> None:
        """Write the plan's file to ``path``; quantized types go through ggml."""
        quantized = file_type not in [f for _, f in DIRECT_TYPES.values()]
        writer = gguf.GGUFWriter(path, self.plan.spec.arch_name)
        try:
            _write_metadata(writer, self.plan, self.source, self.label, file_type)
            for name, ref, t in zip(self.plan.names, self.plan.refs, self.plan.types, strict=True):
                nbytes = one_pass.tensor_nbytes(ref.shape, t)
                writer.add_tensor_info(name, ref.shape, np.dtype(np.float32), nbytes, raw_dtype=t)
            writer.write_header_to_file(path)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            self._write_tensors(writer, quantized)
            writer.close()  # flushes: a full disk can show here too
        except OSError as exc:
            _close_quietly(writer)
            raise ConversionError(
                f"Writing {path.parent} failed: {exc.strerror or exc}",
                hint="Check the free disk space and the folder's permissions.",
            ) from exc
        except BaseException:
            _close_quietly(writer)
            raise

    def _write_tensors(self, writer: gguf.GGUFWriter, quantized: bool) -> None:
        started = time.monotonic()
        self.done_bytes = 0
        with contextlib.ExitStack() as stack:
            quantizer = None
            if quantized:
                quantizer = stack.enter_context(ggml_quants.Quantizer(self.threads))
            for i in range(len(self.plan.refs)):
                _check_cancel(self.cancel)
                self.tensor_bytes = 0
                writer.write_tensor_data(self._payload(i, quantizer))
        log.debug("wrote %d tensors in %.1f s", len(self.plan.refs), time.monotonic() - started)

    def _payload(self, i: int, quantizer: ggml_quants.Quantizer | None) -> Any:
        """Tensor ``i``'s data: an array, or for ggml's types a :class:`StreamedTensor`."""
        plan = self.plan
        ref, qtype = plan.refs[i], plan.types[i]
        transform = arch.tensor_transform(plan.spec, plan.config, ref.name)
        if quantizer is None:
            data = _encode(ref, qtype, transform)
            self._report(i, ref.nbytes)
            return data
        job = one_pass.TensorJob(ref, qtype, transform, plan.imatrix[i] if plan.imatrix else None)
        return one_pass.StreamedTensor(job, quantizer, lambda n: self._report(i, n))

    def _report(self, i: int, nbytes: int) -> None:
        """Progress after ``nbytes`` more source bytes of tensor ``i``; stops if cancelled."""
        self.done_bytes += nbytes
        self.tensor_bytes += nbytes
        _check_cancel(self.cancel)
        if self.progress:
            finished = i + (self.tensor_bytes >= self.plan.refs[i].nbytes)
            report = ConvertProgress(
                "convert",
                finished,
                len(self.plan.refs),
                self.done_bytes,
                self.total_bytes,
                tensor=self.plan.names[i],
                target_type=self.plan.types[i].name,
            )
            self.progress(report)


def _close_quietly(writer: gguf.GGUFWriter) -> None:
    with contextlib.suppress(OSError, ValueError):
        writer.close()
