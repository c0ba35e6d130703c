"""The offload planner against injected free-memory figures (no GPU exists here)."""

import logging
import re

import pytest
from tiny_checkpoints import make_checkpoint

from seedchat.converters import convert_checkpoint
from seedchat.engine.local import Engine
from seedchat.events import Done
from seedchat.planner import (
    KV_TYPES,
    MIN_CONTEXT,
    ModelShape,
    context_plans,
    plan_offload,
    read_shape,
)
from seedchat.settings import GenerationOptions, LoadOptions

GiB = 2**30

# Seed-OSS-36B's shape at Q4_K_M: 64 layers of ~0.3 GiB, 1.2 GiB of embeddings and head.
SEED_36B = ModelShape(
    n_layers=64,
    layer_bytes=(int(0.3 * GiB),) * 64,
    other_bytes=int(1.2 * GiB),
    n_embd=5120,
    n_head_kv=8,
    head_dim_k=128,
    head_dim_v=128,
    n_vocab=155136,
    n_ctx_train=524288,
)


def test_everything_fits_on_a_big_gpu():
    plan = plan_offload(SEED_36B, 8192, free_gpu_bytes=80 * GiB)
    assert plan.n_gpu_layers == 64 and plan.n_ctx == 8192
    assert plan.gpu_bytes > 64 * 0.3 * GiB and plan.gpu_bytes < 80 * GiB * 0.9
    assert "all layers on the GPU" in plan.explain(64)


def test_partial_offload_on_a_consumer_gpu():
    plan = plan_offload(SEED_36B, 8192, free_gpu_bytes=12 * GiB)
    assert 0 < plan.n_gpu_layers < 64
    assert plan.gpu_bytes <= 12 * GiB * 0.9
    # one more layer would not fit
    more = plan_offload(SEED_36B, 8192, 12 * GiB, manual_layers=plan.n_gpu_layers + 1)
    assert more.gpu_bytes > 12 * GiB * 0.9 - 512 * 2**20
    assert f"{plan.n_gpu_layers} of 64 layers" in plan.explain(64)


def test_more_free_memory_never_means_fewer_layers():
    layers = [plan_offload(SEED_36B, 8192, g * GiB).n_gpu_layers for g in range(0, 40, 2)]
    assert layers == sorted(layers) and layers[0] == 0 and layers[-1] == 64


def test_kv_cache_type_and_context_change_the_plan():
    f16 = plan_offload(SEED_36B, 65536, 16 * GiB, cache_type="f16")
    q4 = plan_offload(SEED_36B, 65536, 16 * GiB, cache_type="q4_0")
    assert q4.n_gpu_layers > f16.n_gpu_layers
    assert SEED_36B.kv_bytes(8192, "f16") == 64 * 8192 * 8 * 256 * 2  # 2 GiB: the real figure


def test_context_shrinks_only_when_no_layer_fits():
    plan = plan_offload(SEED_36B, 131072, free_gpu_bytes=int(1.6 * GiB))
    assert plan.n_gpu_layers >= 1 and MIN_CONTEXT <= plan.n_ctx < 131072
    assert "Context reduced" in plan.reason
    roomy = plan_offload(SEED_36B, 131072, free_gpu_bytes=200 * GiB)
    assert roomy.n_ctx == 131072


def test_manual_override_and_no_gpu():
    assert plan_offload(SEED_36B, 8192, 4 * GiB, manual_layers=40).n_gpu_layers == 40
    assert plan_offload(SEED_36B, 8192, 4 * GiB, manual_layers=999).n_gpu_layers == 64
    cpu = plan_offload(SEED_36B, 8192, 0, gpu_offload=False)
    assert cpu.n_gpu_layers == 0 and cpu.gpu_bytes == 0
    assert cpu.ram_bytes >= 64 * 0.3 * GiB + 1.2 * GiB


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    root = tmp_path_factory.mktemp("planner")
    return convert_checkpoint(make_checkpoint(root / "ckpt"), root / "m.gguf", quant="F16")


def test_shape_is_read_from_the_gguf(tiny_gguf):
    shape = read_shape(tiny_gguf)
    assert shape.n_layers == 2 and shape.head_dim_k == 32 and shape.n_head_kv == 2
    assert shape.n_embd == 256 and shape.n_vocab == 640 and shape.n_ctx_train == 4096
    total = sum(shape.layer_bytes) + shape.other_bytes
    assert abs(total - tiny_gguf.stat().st_size) < 0.2 * tiny_gguf.stat().st_size
    assert shape.layer_bytes[0] == shape.layer_bytes[1] > 0


# -- the planner against what llama.cpp really allocates ---------------------------------

MiB = 2**20
_BUFFER = re.compile(r"CPU (KV|compute) buffer size =\s+([\d.]+) MiB")


@pytest.fixture(scope="module")
def long_gguf(tmp_path_factory):
    """A Seed-OSS-shaped model trained on 131,072 tokens, small enough that a 128K KV
    cache fits this machine: 2 layers, 8 KV heads of 64 (4 KiB per token in f16)."""
    root = tmp_path_factory.mktemp("long")
    ckpt = make_checkpoint(
        root / "ckpt",
        max_position_embeddings=131072,
        hidden_size=128,
        intermediate_size=256,
        num_attention_heads=8,
        num_key_value_heads=8,
        head_dim=64,
    )
    return convert_checkpoint(ckpt, root / "long.gguf", quant="F16")


def reported_buffers(path, options: LoadOptions, caplog) -> dict[str, float]:
    """llama.cpp's own report of its KV and compute buffers (bytes), from its log."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="seedchat.llama_cpp"):
        Engine.load(path, options).close()
    found = {}
    for record in caplog.records:
        m = _BUFFER.search(record.getMessage())
        if m:
            found[m.group(1)] = float(m.group(2)) * MiB
    assert set(found) == {"KV", "compute"}, "llama.cpp no longer reports its buffers"
    return found


@pytest.mark.parametrize("kv", ["f16", "q8_0", "q4_0"])
@pytest.mark.parametrize("n_ctx", [4096, 32768, 131072])
def test_the_planner_matches_what_llama_cpp_allocates(long_gguf, n_ctx, kv, caplog):
    shape = read_shape(long_gguf)
    assert shape.n_ctx_train == 131072
    options = LoadOptions(context_length=n_ctx, kv_cache_type=kv, threads=2, kv_cache_disk_gb=0)
    real = reported_buffers(long_gguf, options, caplog)
    kv_plan, compute_plan = shape.kv_bytes(n_ctx, kv), shape.compute_bytes(n_ctx)
    assert kv_plan == pytest.approx(real["KV"], rel=0.10)
    assert compute_plan == pytest.approx(real["compute"], rel=0.10)
    total = kv_plan + compute_plan + sum(shape.layer_bytes) + shape.other_bytes
    assert total == pytest.approx(real["KV"] + real["compute"] + long_gguf.stat().st_size, rel=0.1)


def test_without_flash_attention_the_scores_are_planned_too(long_gguf, caplog):
    shape = read_shape(long_gguf)
    options = LoadOptions(context_length=32768, flash_attn=False, threads=2, kv_cache_disk_gb=0)
    real = reported_buffers(long_gguf, options, caplog)
    assert real["compute"] > 10 * shape.compute_bytes(32768)  # the f32 scores of 8 heads
    assert shape.compute_bytes(32768, flash_attn=False) == pytest.approx(real["compute"], rel=0.1)


def test_the_kv_cache_in_ram_loads_and_answers(long_gguf):
    options = LoadOptions(context_length=8192, kv_cache_type="q8_0", offload_kqv=False, threads=2)
    with Engine.load(long_gguf, options) as engine:
        events = list(engine.generate("Hello", GenerationOptions(raw=True, max_tokens=4)))
        assert isinstance(events[-1], Done) and events[-1].generated_tokens > 0
        assert engine.n_ctx == 8192


# -- context plans ----------------------------------------------------------------------


def test_seed_36b_kv_figures_are_the_issues():
    per_token = {kv: SEED_36B.kv_bytes(1, kv) for kv in KV_TYPES}
    assert per_token == {"f16": 256 * 1024, "q8_0": 136 * 1024, "q4_0": 72 * 1024}
    assert [round(SEED_36B.kv_bytes(131072, kv) / GiB) for kv in KV_TYPES] == [32, 17, 9]


def test_plans_on_a_gpu_with_20_gb_free_for_128k_tokens():
    plans = context_plans(SEED_36B, 100_000, free_gpu=20 * GiB, free_ram=64 * GiB)
    assert len(plans) == 6 and all(p.n_ctx == 131072 for p in plans)
    assert all(p.flash_attn for p in plans)  # every KV type is offered with flash attention
    fitting = [p for p in plans if p.fits]
    assert fitting and plans[: len(fitting)] == fitting  # those that fit come first
    ram_q8 = next(p for p in plans if p.kv_type == "q8_0" and not p.kv_on_gpu)
    assert ram_q8.fits and ram_q8.kv_bytes == 17 * GiB
    assert 40 <= ram_q8.n_gpu_layers < 64
    assert ram_q8.words.startswith("Reload with 131,072 tokens, KV q8_0 in RAM: +17.0 GB RAM, ")
    assert ram_q8.words.endswith(f"{ram_q8.n_gpu_layers} of 64 layers on the GPU — fits")
    # the cache on the GPU leaves less room for layers than the cache in RAM
    gpu_q8 = next(p for p in plans if p.kv_type == "q8_0" and p.kv_on_gpu)
    assert gpu_q8.n_gpu_layers < ram_q8.n_gpu_layers
    opts = ram_q8.load_options(LoadOptions(flash_attn=False))
    assert (opts.context_length, opts.kv_cache_type, opts.offload_kqv) == (131072, "q8_0", False)
    assert opts.flash_attn  # a quantized V cache is never planned without flash attention


def test_plans_without_a_gpu_and_what_does_not_fit():
    plans = context_plans(SEED_36B, 131072, free_gpu=0, free_ram=40 * GiB)
    assert [(p.kv_on_gpu, p.n_gpu_layers) for p in plans] == [(False, 0)] * 3
    fits = {p.kv_type: p.fits for p in plans}
    assert fits == {"f16": False, "q8_0": True, "q4_0": True}  # 20 + 32 GiB > 40 GiB
    f16 = next(p for p in plans if p.kv_type == "f16")
    assert "RAM" in f16.reason and f16.words.endswith(f"does not fit ({f16.reason})")
    assert "CPU only" in f16.words
    beyond = context_plans(SEED_36B, 600_000, free_gpu=0, free_ram=None)
    assert not any(p.fits for p in beyond) and "trained context" in beyond[0].reason
    assert context_plans(SEED_36B, 3000, 0, None)[0].n_ctx == 4096
