"""The offload planner: how many layers go on the GPU, and how much memory it takes.

llama-cpp-python has no planner. From the GGUF's own tensor sizes (per layer and the
rest), the KV cache for the chosen context and cache type, and a compute-buffer
estimate, it picks the most layers that fit in the free GPU memory with a safety
margin, shrinking the context (never below :data:`MIN_CONTEXT`) only when not even the
non-layer part fits. Free memory is an argument, so tests inject it.

:func:`context_plans` prices the ways to load a longer context: each KV cache type, the
KV cache on the GPU or in system RAM (llama.cpp's ``offload_kqv``), and the layers that
still fit. K and V always share one type (mixed pairs fall back to slow kernels) and a
quantized cache always comes with flash attention (llama.cpp refuses a quantized V cache
without it), so no plan offers what llama.cpp runs slowly or refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from seedchat.models import human_size
from seedchat.settings import LoadOptions

MIN_CONTEXT = 2048
SAFETY_MARGIN = 0.9  # use at most this share of the free GPU memory
RESERVE_BYTES = 512 * 2**20  # for the driver, other programs, fragmentation
KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
#: the KV cache types a plan offers, K and V the same; the quantized ones need flash
#: attention (llama.cpp refuses a quantized V cache without it)
KV_TYPES = tuple(KV_BYTES)
PLAN_MIN_CONTEXT = 4096  # the smallest context a plan proposes
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
    n_head: int = 0  # query heads; 0: n_embd // head_dim_k
    n_ff: int = 0  # feed-forward width; 0: 4 * n_embd

    def kv_bytes(self, n_ctx: int, cache_type: str, layers: int | None = None) -> int:
        layers = self.n_layers if layers is None else layers
        per_token = self.n_head_kv * (self.head_dim_k + self.head_dim_v) * KV_BYTES[cache_type]
        return int(layers * n_ctx * per_token)

    def compute_bytes(self, n_ctx: int, n_batch: int = 512, flash_attn: bool = True) -> int:
        """llama.cpp's compute buffer for batches of ``n_batch`` tokens: the larger of a
        layer's live tensors (the attention mask over the context, the projections or the
        feed-forward rows; without flash attention also the f32 scores of every head) and
        the logits of the batch. Checked against llama.cpp's own report in the tests."""
        n_head = self.n_head or max(1, self.n_embd // max(self.head_dim_k, 1))
        n_ff = self.n_ff or 4 * self.n_embd
        n_q, n_kv = n_head * self.head_dim_k, self.n_head_kv * self.head_dim_k
        rows = max(3 * n_ff + 3 * self.n_embd, 3 * self.n_embd + n_q + 3 * n_kv)
        layer = n_batch * 4 * rows + n_ctx * n_batch * (2 if flash_attn else 4 + 4 * n_head)
        logits = n_batch * 4 * (self.n_vocab + 2 * self.n_embd)
        return int(max(layer, logits) + self.n_vocab * 4)  # + the output buffer


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
        n_head=n_head,
        n_ff=val(f"{arch}.feed_forward_length", 4 * n_embd),
    )


def plan_offload(
    shape: ModelShape,
    n_ctx: int,
    free_gpu_bytes: int,
    cache_type: str = "f16",
    gpu_offload: bool = True,
    manual_layers: int | None = None,
    offload_kqv: bool = True,
) -> OffloadPlan:
    """The most layers that fit in ``free_gpu_bytes`` (or ``manual_layers``, as given);
    with ``offload_kqv`` False the KV cache stays in system RAM."""
    n_ctx = min(n_ctx or shape.n_ctx_train, shape.n_ctx_train) or n_ctx
    budget = max(0, int(free_gpu_bytes * SAFETY_MARGIN) - RESERVE_BYTES) if gpu_offload else 0

    def cost(layers: int, ctx: int) -> tuple[int, int]:
        on_gpu = sum(shape.layer_bytes[:layers])
        kv_gpu = shape.kv_bytes(ctx, cache_type, layers) if offload_kqv else 0
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


@dataclass(frozen=True)
class ContextPlan:
    """One way to load a model with a longer context, priced by the planner."""

    n_ctx: int
    kv_type: str  # K and V alike
    kv_on_gpu: bool  # llama.cpp's offload_kqv: the KV cache on the GPU, else in RAM
    n_gpu_layers: int
    n_layers: int
    kv_bytes: int  # the KV cache (of the CPU's layers in RAM when not all are on the GPU)
    gpu_bytes: int  # all of this plan's GPU memory
    ram_bytes: int  # all of this plan's RAM
    fits: bool
    reason: str = ""  # why it does not fit
    flash_attn: bool = True  # always: a quantized V cache requires it

    @property
    def words(self) -> str:
        """E.g. "Reload with 131,072 tokens, KV q8_0 in RAM: +17.0 GB RAM, 48 of 64
        layers on the GPU — fits"."""
        where = "on the GPU" if self.kv_on_gpu else "in RAM"
        cost = f"+{human_size(self.kv_bytes)} {'GPU' if self.kv_on_gpu else 'RAM'}"
        layers = (
            "CPU only"
            if self.n_gpu_layers == 0
            else f"{self.n_gpu_layers} of {self.n_layers} layers on the GPU"
        )
        verdict = "fits" if self.fits else f"does not fit ({self.reason})"
        return f"Reload with {self.n_ctx:,} tokens, KV {self.kv_type} {where}: {cost}, {layers} — {verdict}"

    def load_options(self, base: LoadOptions | None = None) -> LoadOptions:
        """``base`` (or the defaults) changed to load this plan; the layers stay as
        ``base`` says ("auto" plans them again from the memory free at load time)."""
        return replace(
            base or LoadOptions(),
            context_length=self.n_ctx,
            kv_cache_type=self.kv_type,
            flash_attn=True,
            offload_kqv=self.kv_on_gpu,
        )


def reply_room(n_ctx: int, max_tokens: int) -> int:
    """The context a reply keeps free after its prompt: ``max_tokens``, at most half the
    context (and at least 16 tokens). A prompt fits when its tokens and this fit."""
    return max(16, min(max_tokens, n_ctx // 2))


def prompt_fits(prompt_tokens: int, n_ctx: int, max_tokens: int) -> bool:
    """Whether a prompt of ``prompt_tokens`` and its :func:`reply_room` fit ``n_ctx``."""
    return prompt_tokens + reply_room(n_ctx, max_tokens) <= n_ctx


def context_needed(prompt_tokens: int, max_tokens: int) -> int:
    """The smallest context in which a prompt of ``prompt_tokens`` fits with its
    :func:`reply_room`."""
    return prompt_tokens + max(16, min(max_tokens, prompt_tokens - 1))


def plan_context(shape: ModelShape, n_ctx_needed: int) -> int:
    """The context a plan proposes for ``n_ctx_needed`` tokens: the next power of two (at
    least :data:`PLAN_MIN_CONTEXT`), within the model's trained context."""
    n_ctx = PLAN_MIN_CONTEXT
    while n_ctx < n_ctx_needed:
        n_ctx *= 2
    return max(n_ctx_needed, min(n_ctx, shape.n_ctx_train))


def context_plans(
    shape: ModelShape,
    n_ctx_needed: int,
    free_gpu: int,
    free_ram: int | None,
    kv_types: tuple[str, ...] = KV_TYPES,
) -> list[ContextPlan]:
    """Every plan for a context of at least ``n_ctx_needed`` tokens: each KV type, the KV
    cache on the GPU or in RAM (only in RAM without a GPU, ``free_gpu`` 0), the layers that
    fit; those that fit first, then the most layers on the GPU, then the finer KV type.
    ``free_ram`` None: not known (only the GPU is judged)."""
    n_ctx = plan_context(shape, n_ctx_needed)
    placements = (True, False) if free_gpu > 0 else (False,)
    plans = []
    for kv_type in kv_types:
        for on_gpu in placements:
            offload = plan_offload(
                shape, n_ctx, free_gpu, kv_type, gpu_offload=free_gpu > 0, offload_kqv=on_gpu
            )
            layers, kv = offload.n_gpu_layers, shape.kv_bytes(n_ctx, kv_type)
            reason = ""
            if n_ctx > shape.n_ctx_train:
                reason = f"beyond the model's trained context of {shape.n_ctx_train:,} tokens"
            elif on_gpu and layers == 0:
                reason = "not one layer and its KV cache fit the GPU"
            elif offload.n_ctx < n_ctx:
                reason = f"only {offload.n_ctx:,} tokens fit the GPU"
            elif free_ram is not None and offload.ram_bytes > free_ram:
                reason = f"needs {human_size(offload.ram_bytes)} RAM, {human_size(free_ram)} free"
            plans.append(
                ContextPlan(
                    n_ctx,
                    kv_type,
                    on_gpu,
                    layers,
                    shape.n_layers,
                    kv,
                    offload.gpu_bytes,
                    offload.ram_bytes,
                    fits=not reason,
                    reason=reason,
                )
            )
    rank = {t: i for i, t in enumerate(KV_TYPES)}
    return sorted(plans, key=lambda p: (not p.fits, -p.n_gpu_layers, rank[p.kv_type]))
