"""The offload planner against injected free-memory figures (no GPU exists here)."""

import pytest
from tiny_checkpoints import make_checkpoint

from seedchat.converters import convert_checkpoint
from seedchat.planner import MIN_CONTEXT, ModelShape, plan_offload, read_shape

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
