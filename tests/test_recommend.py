"""What fits: Seed-OSS-36B-Instruct's real quantizations judged on injected machines.

The sizes are computed from the architecture (64 layers, hidden 5120, 80 heads, 8 KV
heads, head_dim 128, ffn 27648, vocab 155136, untied output) and llama.cpp's quantization
mixes (``gguf_bytes`` below: each tensor's parameters times the bits per weight of the
type the quantizer gives it). No published size list of a Seed-OSS GGUF repository was
reachable from here, so the computation is checked instead against sizes that are
published: Llama-3-8B's GGUFs (Q2_K 3.18 GB … Q8_0 8.54 GB) and Seed-Coder-8B-Instruct's
Q2_K and Q3_K_M (3.30 GB, 4.15 GB) come out to the three digits shown. It gives
Seed-OSS-36B Q4_K_M 21.76 GB (20.3 GiB), the "about 20 GB" of the issue.
"""

from __future__ import annotations

import pytest

from seedchat.backend import GpuInfo
from seedchat.hub import Machine, Verdict, recommend
from seedchat.hub.catalog import Architecture, find_model, load_catalog, read_catalog

GB = 10**9
GiB = 2**30
BITS = {
    "Q2_K": 2.625,
    "Q3_K": 3.4375,
    "Q4_K": 4.5,
    "Q5_K": 5.5,
    "Q6_K": 6.5625,
    "Q8_0": 8.5,
    "BF16": 16.0,
    "F32": 32.0,
}
BASE = {
    "Q2_K": "Q2_K",
    "Q3_K_M": "Q3_K",
    "Q4_K_S": "Q4_K",
    "Q4_K_M": "Q4_K",
    "Q5_K_M": "Q5_K",
    "Q6_K": "Q6_K",
    "Q8_0": "Q8_0",
    "BF16": "BF16",
}

SEED_OSS_36B = Architecture(
    n_layers=64,
    n_embd=5120,
    n_head=80,
    n_head_kv=8,
    head_dim=128,
    n_ff=27648,
    n_vocab=155136,
    n_ctx_train=524288,
)
SEED_CODER_8B = Architecture(
    n_layers=32,
    n_embd=4096,
    n_head=32,
    n_head_kv=8,
    head_dim=128,
    n_ff=14336,
    n_vocab=155136,
    n_ctx_train=32768,
)
LLAMA_3_8B = Architecture(
    n_layers=32,
    n_embd=4096,
    n_head=32,
    n_head_kv=8,
    head_dim=128,
    n_ff=14336,
    n_vocab=128256,
    n_ctx_train=8192,
)


def _more_bits(i: int, n: int) -> bool:  # llama.cpp's use_more_bits
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def gguf_bytes(a: Architecture, quant: str, header: int = 6_000_000, biases: int = 0) -> int:
    """A GGUF's size: llama.cpp's per-tensor types for ``quant`` (llama-quant.cpp)."""
    base, n = BASE[quant], a.n_layers
    bits = 0.0
    for i in range(n):
        t = dict.fromkeys(("q", "k", "v", "o", "gate", "up", "down"), base)
        if quant == "Q2_K":
            t.update(v="Q4_K" if a.n_head // a.n_head_kv >= 4 else "Q3_K", down="Q3_K", o="Q3_K")
        elif quant == "Q3_K_M":
            t.update(v="Q5_K" if i < 2 else "Q4_K", o="Q4_K")
            t["down"] = "Q5_K" if i < n // 16 else "Q4_K"
        elif quant == "Q4_K_S":
            t.update(v="Q5_K" if i < 4 else base, down="Q5_K" if i < n // 8 else base)
        elif quant in ("Q4_K_M", "Q5_K_M") and _more_bits(i, n):
            t.update(v="Q6_K", down="Q6_K")
        d, hd = a.n_embd, a.head_dim
        params = dict(
            q=d * a.n_head * hd,
            k=d * a.n_head_kv * hd,
            v=d * a.n_head_kv * hd,
            o=a.n_head * hd * d,
            gate=d * a.n_ff,
            up=d * a.n_ff,
            down=a.n_ff * d,
        )
        bits += sum(params[k] * BITS[t[k]] for k in params) + (2 * a.n_embd + biases) * 32
    head = base if base in ("Q8_0", "BF16") else "Q6_K"
    bits += a.n_vocab * a.n_embd * (BITS[base] + BITS[head]) + a.n_embd * 32
    return int(bits / 8) + header


SEED_BIASES = 80 * 128 + 2 * 8 * 128  # Seed-OSS's q, k, v biases
SEED_OSS_36B_SIZES = {q: gguf_bytes(SEED_OSS_36B, q, biases=SEED_BIASES) for q in BASE}


@pytest.mark.parametrize(
    ("arch", "quant", "published_gb", "header"),
    [
        (LLAMA_3_8B, "Q2_K", 3.18, 8_000_000),
        (LLAMA_3_8B, "Q3_K_M", 4.02, 8_000_000),
        (LLAMA_3_8B, "Q4_K_M", 4.92, 8_000_000),
        (LLAMA_3_8B, "Q5_K_M", 5.73, 8_000_000),
        (LLAMA_3_8B, "Q6_K", 6.60, 8_000_000),
        (LLAMA_3_8B, "Q8_0", 8.54, 8_000_000),
        (SEED_CODER_8B, "Q2_K", 3.30, 6_000_000),
        (SEED_CODER_8B, "Q3_K_M", 4.15, 6_000_000),
    ],
)
def test_the_size_computation_matches_published_sizes(arch, quant, published_gb, header):
    assert round(gguf_bytes(arch, quant, header) / GB, 2) == published_gb


def test_the_catalog_holds_these_sizes_and_loads():
    catalog = load_catalog()
    assert {m.id for m in catalog} >= {
        "seed-oss-36b-instruct",
        "seed-coder-8b-instruct",
        "seed-coder-8b-reasoning",
        "seed-oss-36b-base",
        "seed-coder-8b-base",
    }
    seed = find_model("unsloth/seed-oss-36b-instruct-gguf")  # by its GGUF repo, any case
    assert seed is not None and seed.name == "Seed-OSS-36B-Instruct"
    assert seed.architecture == SEED_OSS_36B
    assert seed.quant_bytes == SEED_OSS_36B_SIZES
    assert round(seed.quant_bytes["Q4_K_M"] / GB, 2) == 21.76
    assert seed.source_repo == "ByteDance-Seed/Seed-OSS-36B-Instruct"
    assert find_model("ByteDance-Seed/Seed-Coder-8B-Instruct").quant_bytes["Q3_K_M"] == (
        gguf_bytes(SEED_CODER_8B, "Q3_K_M")
    )
    for model in catalog:
        sizes = [model.quant_bytes[q] for q in BASE]
        assert sizes == sorted(sizes), model.id  # more bits, a larger file
        assert model.source_repo.startswith("ByteDance-Seed/")


def test_a_bad_catalog_edit_says_where(tmp_path):
    from seedchat.hub.catalog import CatalogError

    bad = tmp_path / "catalog.json"
    bad.write_text('{"models": [{"id": "x", "name": "X"}]}')
    with pytest.raises(CatalogError, match=r"malformed.*source_repo"):
        read_catalog(bad)


def judged(machine: Machine):
    return recommend(SEED_OSS_36B_SIZES.items(), SEED_OSS_36B, machine, context=8192)


def test_a_24_gb_gpu_takes_the_best_quant_that_runs_entirely_on_it():
    rec = judged(Machine(64 * GiB, (GpuInfo("RTX 4090", 24 * GiB, int(23.5 * GiB)),)))
    assert rec.best.quant == "Q3_K_M" and rec.best.verdict is Verdict.GPU
    assert rec.best.text == "fits on the GPU" and rec.context == 8192
    q4 = rec.fit_for("Q4_K_M")
    assert q4.verdict is Verdict.PARTIAL and 50 <= q4.gpu_layers < 64
    assert q4.text == f"fits with {q4.gpu_layers} of 64 layers on the GPU (expect slower)"
    assert rec.fit_for("Q2_K").verdict is Verdict.GPU
    # the larger the file, the fewer of its layers the GPU takes (72 GB: 64 GB of RAM helps)
    layers = [rec.fit_for(q).gpu_layers for q in ("Q4_K_M", "Q6_K", "Q8_0", "BF16")]
    assert layers == sorted(layers, reverse=True) and rec.fit_for("BF16").fits


def test_an_8_gb_gpu_runs_q4_k_m_with_some_layers_on_it():
    rec = judged(Machine(32 * GiB, (GpuInfo("RTX 4060", 8 * GiB, int(7.5 * GiB)),)))
    assert rec.best.quant == "Q4_K_M" and rec.best.verdict is Verdict.PARTIAL
    assert 10 <= rec.best.gpu_layers <= 24
    assert "of 64 layers on the GPU (expect slower)" in rec.best.text
    assert not any(f.verdict is Verdict.GPU for f in rec.fits)
    assert rec.fit_for("Q8_0").verdict is Verdict.NO
    assert "does not fit (needs about" in rec.fit_for("Q8_0").text


def test_no_gpu_and_32_gb_of_ram_runs_q4_k_m_on_the_cpu():
    rec = judged(Machine(32 * GiB))
    assert rec.best.quant == "Q4_K_M" and rec.best.verdict is Verdict.CPU
    assert rec.best.text == "fits in memory, runs on the CPU (expect slow)"
    assert rec.fit_for("Q5_K_M").fits  # fits, but slower on a CPU for little gain
    assert not rec.fit_for("Q6_K").fits


def test_a_small_machine_gets_nothing_rather_than_a_model_that_cannot_load():
    rec = judged(Machine(8 * GiB))
    assert rec.best is None and not any(f.fits for f in rec.fits)
    coder = find_model("seed-coder-8b-instruct")
    small = recommend(coder.quant_bytes.items(), coder.architecture, Machine(8 * GiB))
    assert small.best.quant == "Q4_K_M" and small.best.verdict is Verdict.CPU


def test_a_cpu_only_build_does_not_count_the_gpu():
    gpu = (GpuInfo("RTX 4090", 24 * GiB, int(23.5 * GiB)),)
    rec = judged(Machine(32 * GiB, gpu, gpu_offload=False))
    assert rec.best.verdict is Verdict.CPU and rec.best.gpu_layers == 0
    assert "CPU only" in rec.machine.describe()


def test_more_gpu_memory_never_makes_a_worse_verdict():
    order = [Verdict.NO, Verdict.CPU, Verdict.PARTIAL, Verdict.GPU]
    for quant in ("Q4_K_M", "Q8_0"):
        seen = []
        for free in range(0, 80, 4):
            gpus = (GpuInfo("GPU", 80 * GiB, free * GiB),) if free else ()
            fit = judged(Machine(64 * GiB, gpus)).fit_for(quant)
            seen.append((order.index(fit.verdict), fit.gpu_layers))
        assert seen == sorted(seen), quant


def test_the_machine_is_read_from_fake_gpus(monkeypatch):
    monkeypatch.setenv("SEEDCHAT_FAKE_GPUS", "RTX 4060:8192:7680")
    machine = Machine.detect(gpu_offload=True)
    assert machine.gpus[0].name == "RTX 4060" and machine.free_gpu_bytes == 7680 * 2**20
    assert machine.ram_bytes and machine.ram_bytes > 0
    assert "RTX 4060 with 7.5 GB free" in machine.describe()
