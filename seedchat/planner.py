"""The offload planner: how many layers go on the GPU, and how much memory it takes.

llama-cpp-python has no planner. From the GGUF's own tensor sizes (per layer and the
rest), the KV cache for the chosen context and cache type, and a compute-buffer
estimate, it picks the most layers that fit in the free GPU memory with a safety
margin, shrinking the context (never below :data:`MIN_CONTEXT`) only when not even the
non-layer part fits. Free memory is an argument, so tests inject it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from seedchat.models import human_size

MIN_CONTEXT = 2048
SAFETY_MARGIN = 0.9  # use at most this share of the free GPU memory
RESERVE_BYTES = 512 * 2**20  # for the driver, other programs, fragmentation
KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
_LAYER = re.compile(r"^blk\.(\d+)\.")


@dataclass(frozen=True)
class ModelShape:
    """What the planner needs to know of a model, read from its GGUF."""

    n_layers: int
    layer_bytes: tuple[int, ...]  # weights of each block
    other_bytes: int  # embeddings, output head, norms
    n_embd: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_vocab: int
    n_ctx_train: int

    def kv_bytes(self, n_ctx: int, cache_type: str, layers: int | None = None) -> int:
        layers = self.n_layers if layers is None else layers
        per_token = self.n_head_kv * (self.head_dim_k + self.head_dim_v) * KV_BYTES[cache_type]
        return int(layers * n_ctx * per_token)

    def compute_bytes(self, n_ctx: int, n_batch: int = 512) -> int:
        """llama.cpp's compute buffer: activations of one batch plus the logits."""
        return int(n_batch * (self.n_embd * 4 * 8 + self.n_vocab * 4) + n_ctx * n_batch * 4 // 8)


@dataclass(frozen=True)
class OffloadPlan:
    n_gpu_layers: int
    n_ctx: int
    gpu_bytes: int  # expected GPU memory use
    ram_bytes: int  # expected RAM use (weights left on the CPU, their KV cache)
    free_gpu_bytes: int
    manual: bool = False
    reason: str = ""

    def explain(self, n_layers: int) -> str:
        where = (
            "all layers on the GPU"
            if self.n_gpu_layers >= n_layers
            else "CPU only"
            if self.n_gpu_layers == 0
            else f"{self.n_gpu_layers} of {n_layers} layers on the GPU, the rest on the CPU"
        )
        text = (
            f"{where}; context {self.n_ctx} tokens; expected GPU memory "
            f"{human_size(self.gpu_bytes)} (of {human_size(self.free_gpu_bytes)} free), "
            f"RAM {human_size(self.ram_bytes)}"
        )
        if self.manual:
            text += " (manual setting)"
        return text + (f". {self.reason}" if self.reason else "")


def read_shape(path: Path | str) -> ModelShape:
    import gguf

    reader = gguf.GGUFReader(path, "r")

    def val(key: str, default: int = 0) -> int:
        field = reader.get_field(key)
        return int(field.contents()) if field is not None else default

    arch = str(reader.get_field("general.architecture").contents())
    n_layers = val(f"{arch}.block_count")
    layers = [0] * n_layers
    other = 0
    for t in reader.tensors:
        m = _LAYER.match(t.name)
        if m and int(m.group(1)) < n_layers:
            layers[int(m.group(1))] += int(t.n_bytes)
        else:
            other += int(t.n_bytes)
    n_embd = val(f"{arch}.embedding_length")
    n_head = val(f"{arch}.attention.head_count", 1)
    head_k = val(f"{arch}.attention.key_length", n_embd // max(n_head, 1))
    tokens = reader.get_field("tokenizer.ggml.tokens")
    return ModelShape(
        n_layers=n_layers,
        layer_bytes=tuple(layers),
        other_bytes=other,
        n_embd=n_embd,
        n_head_kv=val(f"{arch}.attention.head_count_kv", n_head),
        head_dim_k=head_k,
        head_dim_v=val(f"{arch}.attention.value_length", head_k),
        n_vocab=len(tokens.data) if tokens is not None else 0,
        n_ctx_train=val(f"{arch}.context_length", 4096),
    )


def plan_offload(
    shape: ModelShape,
    n_ctx: int,
    free_gpu_bytes: int,
    cache_type: str = "f16",
    gpu_offload: bool = True,
    manual_layers: int | None = None,
) -> OffloadPlan:
    """The most layers that fit in ``free_gpu_bytes`` (or ``manual_layers``, as given)."""
    n_ctx = min(n_ctx or shape.n_ctx_train, shape.n_ctx_train) or n_ctx
    budget = max(0, int(free_gpu_bytes * SAFETY_MARGIN) - RESERVE_BYTES) if gpu_offload else 0

    def cost(layers: int, ctx: int) -> tuple[int, int]:
        on_gpu = sum(shape.layer_bytes[:layers])
        kv_gpu = shape.kv_bytes(ctx, cache_type, layers)
        gpu = on_gpu + kv_gpu + (shape.compute_bytes(ctx) if layers else 0)
        if layers == shape.n_layers:
            gpu += shape.other_bytes  # the output head goes too when all layers do
        total = sum(shape.layer_bytes) + shape.other_bytes + shape.kv_bytes(ctx, cache_type)
        ram = total - (gpu - (shape.compute_bytes(ctx) if layers else 0)) + shape.compute_bytes(ctx)
        return gpu, ram

    if manual_layers is not None:
        layers = max(0, min(manual_layers, shape.n_layers)) if gpu_offload else 0
        gpu, ram = cost(layers, n_ctx)
        return OffloadPlan(layers, n_ctx, gpu, ram, free_gpu_bytes, manual=True)
    reason = ""
    ctx = n_ctx
    while True:
        best = 0
        for layers in range(shape.n_layers, 0, -1):
            if cost(layers, ctx)[0] <= budget:
                best = layers
                break
        if best or ctx <= MIN_CONTEXT or not budget:
            break
        # not one layer fits: a smaller context (smaller KV cache and buffers) may help
        ctx = max(MIN_CONTEXT, ctx // 2)
        reason = f"Context reduced from {n_ctx} to {ctx} tokens to fit the GPU."
    if not best:
        ctx, reason = n_ctx, ("" if not gpu_offload else "Not one layer fits the free GPU memory.")
    gpu, ram = cost(best, ctx)
    return OffloadPlan(best, ctx, gpu, ram, free_gpu_bytes, reason=reason)
