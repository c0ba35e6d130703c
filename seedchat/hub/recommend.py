"""What fits this machine: each quantization of a model judged by the offload planner.

For each file a model comes in (its size and the model's architecture), the planner of
:mod:`seedchat.planner` says how many layers the GPU takes at the chosen context (8K by
default: enough for real conversations), and what is left for the RAM. That gives one of
four verdicts: all on the GPU, some layers on the GPU ("expect slower"), the CPU alone, or
does not fit. The GPU is the first one, as the engine plans it; the RAM is what is
available now (as ``seedchat doctor`` reads it).

The pick: the best quality that runs entirely on the GPU, as long as it is a usable one
(about 3.5 bits per weight and more: Q3_K_M up); else, when layers must stay on the
CPU, the largest up to Q4_K_M's size (bigger files only run slower there); else nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from seedchat import backend
from seedchat.backend import GpuInfo
from seedchat.hub.catalog import Architecture
from seedchat.models import human_size
from seedchat.planner import plan_offload
from seedchat.settings import Settings

DEFAULT_CONTEXT = 8192
RAM_SHARE = 0.9  # of the available memory a model may take
GOOD_BITS = 3.5  # bits per weight: below this (Q2_K) a model is too degraded to prefer
CPU_BITS = 5.0  # with layers on the CPU: the largest file up to Q4_K_M's ~4.8 bits


class Verdict(str, Enum):
    GPU = "gpu"
    PARTIAL = "partial"
    CPU = "cpu"
    NO = "no"


@dataclass(frozen=True)
class Machine:
    """The memory a model can use here (figures can be injected, as in the tests)."""

    ram_bytes: int | None
    gpus: tuple[GpuInfo, ...] = ()
    gpu_offload: bool = True  # whether this llama.cpp build can use a GPU

    @classmethod
    def detect(cls, gpu_offload: bool | None = None) -> Machine:
        """This machine now: GPUs (``SEEDCHAT_FAKE_GPUS`` stands in for them), memory
        available, and (unless given) whether the llama.cpp build offloads."""
        gpus = tuple(backend.detect_gpus())
        if gpu_offload is None:
            try:
                gpu_offload = backend.backend_info().gpu_offload
            except Exception:  # no usable backend: say what would fit once it is fixed
                gpu_offload = True
        ram = backend.available_ram_bytes() or backend.total_ram_bytes()
        return cls(ram_bytes=ram, gpus=gpus, gpu_offload=bool(gpu_offload))

    @property
    def free_gpu_bytes(self) -> int:
        return self.gpus[0].free_bytes if self.gpus and self.gpu_offload else 0

    def describe(self) -> str:
        parts = []
        if self.gpus:
            gpu = self.gpus[0]
            parts.append(f"{gpu.name} with {human_size(gpu.free_bytes)} free")
            if not self.gpu_offload:
                parts[-1] += " (unused: this llama.cpp build runs on the CPU only)"
        else:
            parts.append("no GPU")
        parts.append(f"{human_size(self.ram_bytes)} of memory available")
        return ", ".join(parts)


@dataclass(frozen=True)
class Fit:
    """One file judged against the machine."""

    quant: str
    size_bytes: int
    verdict: Verdict
    gpu_layers: int
    n_layers: int
    context: int
    need_bytes: int  # memory the model takes outside the GPU
    bits: float  # bits per weight

    @property
    def fits(self) -> bool:
        return self.verdict is not Verdict.NO

    @property
    def text(self) -> str:
        if self.verdict is Verdict.GPU:
            return "fits on the GPU"
        if self.verdict is Verdict.PARTIAL:
            return (
                f"fits with {self.gpu_layers} of {self.n_layers} layers on the GPU (expect slower)"
            )
        if self.verdict is Verdict.CPU:
            return "fits in memory, runs on the CPU (expect slow)"
        return f"does not fit (needs about {human_size(self.need_bytes)} of memory)"


@dataclass(frozen=True)
class Recommendation:
    fits: tuple[Fit, ...]  # smallest first
    best: Fit | None
    machine: Machine
    context: int

    def fit_for(self, quant: str) -> Fit | None:
        return next((f for f in self.fits if f.quant == quant), None)


def context_for(settings: Settings) -> int:
    """The context to judge at: the settings' (0 there is the model's own, too long to
    plan on), never under :data:`DEFAULT_CONTEXT`."""
    return max(int(settings.get("context_length") or 0), DEFAULT_CONTEXT)


def judge(
    quant: str,
    size_bytes: int,
    architecture: Architecture,
    machine: Machine,
    context: int = DEFAULT_CONTEXT,
    kv_cache_type: str = "f16",
) -> Fit:
    """How a file of ``size_bytes`` of this model runs here, at ``context`` tokens."""
    shape = architecture.shape(size_bytes)
    context = min(context, shape.n_ctx_train) if shape.n_ctx_train else context
    offload = machine.gpu_offload and bool(machine.gpus)
    plan = plan_offload(shape, context, machine.free_gpu_bytes, kv_cache_type, offload)
    n_layers = shape.n_layers
    ram_ok = machine.ram_bytes is None or plan.ram_bytes <= machine.ram_bytes * RAM_SHARE
    if plan.n_gpu_layers >= n_layers and plan.n_ctx >= context:
        verdict = Verdict.GPU
    elif not ram_ok:
        verdict = Verdict.NO
    elif plan.n_gpu_layers > 0:
        verdict = Verdict.PARTIAL
    else:
        verdict = Verdict.CPU
    return Fit(
        quant=quant,
        size_bytes=size_bytes,
        verdict=verdict,
        gpu_layers=plan.n_gpu_layers if verdict is not Verdict.CPU else 0,
        n_layers=n_layers,
        context=context,
        need_bytes=plan.ram_bytes,
        bits=architecture.bits_per_weight(size_bytes),
    )


def pick(fits: Iterable[Fit]) -> Fit | None:
    """The file to recommend among ``fits`` (see the module's docstring)."""
    fits = sorted(fits, key=lambda f: f.size_bytes)
    on_gpu = [f for f in fits if f.verdict is Verdict.GPU]
    good = [f for f in on_gpu if f.bits >= GOOD_BITS]
    if good:
        return good[-1]
    elsewhere = [f for f in fits if f.verdict in (Verdict.PARTIAL, Verdict.CPU)]
    if elsewhere:
        small = [f for f in elsewhere if f.bits <= CPU_BITS]
        return small[-1] if small else elsewhere[0]
    return on_gpu[-1] if on_gpu else None


def recommend(
    sizes: Iterable[tuple[str, int]],
    architecture: Architecture,
    machine: Machine,
    context: int = DEFAULT_CONTEXT,
    kv_cache_type: str = "f16",
) -> Recommendation:
    """Each ``(quant, size_bytes)`` judged on ``machine``, and the one to take."""
    fits = tuple(
        sorted(
            (judge(q, size, architecture, machine, context, kv_cache_type) for q, size in sizes),
            key=lambda f: f.size_bytes,
        )
    )
    context = fits[0].context if fits else context
    return Recommendation(fits=fits, best=pick(fits), machine=machine, context=context)
