"""The per-tensor type table and ggml's quantizer, checked against llama.cpp itself.

llama.cpp exports its type selection for tools (``llama_quant_compute_types`` on a model
made from metadata, ``src/llama-ext.h``): the table in ``seedchat/converters/quant_types.py`` must
give the same type to every tensor of the real Seed-OSS-36B and Seed-Coder-8B shapes (and
a 70B llama, tied embeddings, odd row lengths) for every file type, with no weights at all.
"""

from __future__ import annotations

import ctypes
import threading
import time
from pathlib import Path

import gguf
import numpy as np
import pytest

from seedchat.backend import load_backend, load_ggml_base
from seedchat.converters import ggml_quants, quant_types

Q = gguf.GGMLQuantizationType

# mangled C++ names of llama-ext.h's helpers in libllama (llama-cpp-python 0.3.36)
MODEL_FROM_METADATA = "_Z31llama_quant_model_from_metadataPK22llama_quant_model_desc"
QUANT_INIT = "_Z16llama_quant_initPK11llama_modelPK27llama_model_quantize_params"
QUANT_FREE = "_Z16llama_quant_freeP19quantize_state_impl"
ALLOWS = "_Z38llama_quant_tensor_allows_quantizationPK19quantize_state_implPK11ggml_tensor"
COMPUTE = (
    "_Z25llama_quant_compute_typesP19quantize_state_impl11llama_ftypePP11ggml_tensorP9ggml_typem"
)


class ModelDesc(ctypes.Structure):
    _fields_ = [("architecture", ctypes.c_char_p)] + [
        (f, ctypes.c_uint32)
        for f in [
            "n_embd",
            "n_ff",
            "n_layer",
            "n_head",
            "n_head_kv",
            "n_expert",
            "n_embd_head_k",
            "n_embd_head_v",
        ]
    ]


class InitParams(ctypes.Structure):
    _fields_ = [
        ("mem_size", ctypes.c_size_t),
        ("mem_buffer", ctypes.c_void_p),
        ("no_alloc", ctypes.c_bool),
    ]


def model_tensors(
    arch: str,
    hidden: int,
    ff: int,
    layers: int,
    heads: int,
    kv: int,
    head_dim: int,
    vocab: int,
    tied: bool = False,
) -> list[tuple[str, tuple]]:
    """GGUF names and numpy shapes of a Seed-OSS or Llama model's tensors."""
    q, k = heads * head_dim, kv * head_dim
    out = [("token_embd.weight", (vocab, hidden)), ("output_norm.weight", (hidden,))]
    if not tied:
        out.append(("output.weight", (vocab, hidden)))
    for i in range(layers):
        p = f"blk.{i}."
        out += [
            (p + "attn_norm.weight", (hidden,)),
            (p + "attn_q.weight", (q, hidden)),
            (p + "attn_k.weight", (k, hidden)),
            (p + "attn_v.weight", (k, hidden)),
            (p + "attn_output.weight", (hidden, q)),
            (p + "ffn_gate.weight", (ff, hidden)),
            (p + "ffn_up.weight", (ff, hidden)),
            (p + "ffn_down.weight", (hidden, ff)),
        ]
        if arch == "seed_oss":
            out += [
                (p + "attn_q.bias", (q,)),
                (p + "attn_k.bias", (k,)),
                (p + "attn_v.bias", (k,)),
                (p + "post_attention_norm.weight", (hidden,)),
            ]
        else:
            out.append((p + "ffn_norm.weight", (hidden,)))
    return out


MODELS = {
    # config.json of ByteDance-Seed/Seed-OSS-36B-Instruct and Seed-Coder-8B-Instruct
    "seed-oss-36b": ("seed_oss", 5120, 27648, 64, 80, 8, 128, 155136, False),
    "seed-coder-8b": ("llama", 4096, 14336, 32, 32, 8, 128, 155136, False),
    "llama-70b": ("llama", 8192, 28672, 80, 64, 8, 128, 32000, False),  # LLM_TYPE_70B
    "odd-rows-tied": ("seed_oss", 320, 336, 12, 4, 1, 48, 640, True),
}


def llama_cpp_types(arch: str, tensors, shape: tuple, ftype: int) -> list[Q | None]:
    """llama.cpp's own choice for each tensor (None: not quantized)."""
    llama_cpp = load_backend()
    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libllama.so"))
    ggml = load_ggml_base()
    for name, res, args in (
        (MODEL_FROM_METADATA, ctypes.c_void_p, [ctypes.POINTER(ModelDesc)]),
        (QUANT_INIT, ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_void_p]),
        (QUANT_FREE, None, [ctypes.c_void_p]),
        (ALLOWS, ctypes.c_bool, [ctypes.c_void_p, ctypes.c_void_p]),
        (
            COMPUTE,
            None,
            [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t],
        ),
        ("llama_model_free", None, [ctypes.c_void_p]),
    ):
        getattr(lib, name).restype, getattr(lib, name).argtypes = res, args
    ggml.ggml_init.restype, ggml.ggml_init.argtypes = ctypes.c_void_p, [InitParams]
    ggml.ggml_new_tensor.restype = ctypes.c_void_p
    ggml.ggml_new_tensor.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int64),
    ]
    ggml.ggml_set_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    ggml.ggml_free.argtypes = [ctypes.c_void_p]
    hidden, ff, layers, heads, kv, head_dim, _vocab = shape
    desc = ModelDesc(arch.encode(), hidden, ff, layers, heads, kv, 0, head_dim, head_dim)
    model = getattr(lib, MODEL_FROM_METADATA)(ctypes.byref(desc))
    params = llama_cpp.llama_model_quantize_default_params()
    qs = getattr(lib, QUANT_INIT)(model, ctypes.byref(params))
    ctx = ggml.ggml_init(InitParams(len(tensors) * 1024 + 2**20, None, True))
    try:
        handles = []
        for name, dims in tensors:
            ne = (ctypes.c_int64 * len(dims))(*reversed(dims))
            t = ggml.ggml_new_tensor(ctx, int(Q.BF16 if len(dims) > 1 else Q.F32), len(dims), ne)
            ggml.ggml_set_name(t, name.encode())
            handles.append(t)
        allowed = [i for i, t in enumerate(handles) if getattr(lib, ALLOWS)(qs, t)]
        arr = (ctypes.c_void_p * len(allowed))(*[handles[i] for i in allowed])
        result = (ctypes.c_int * len(allowed))()
        getattr(lib, COMPUTE)(qs, ftype, arr, result, len(allowed))
        out: list[Q | None] = [None] * len(tensors)
        for i, t in zip(allowed, result, strict=True):
            out[i] = Q(t)
        return out
    finally:
        ggml.ggml_free(ctx)
        getattr(lib, QUANT_FREE)(qs)
        lib.llama_model_free(model)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("quant", list(quant_types.FILE_TYPES))
def test_type_table_matches_llama_cpp(model, quant):
    arch, *shape, tied = MODELS[model]
    listed = model_tensors(arch, *shape, tied=tied)
    tensors = [listed[i] for i in quant_types.llama_order([n for n, _ in listed])]
    layers, heads, kv = shape[2:5]
    quant_shape = quant_types.QuantShape(layers, heads, kv, is_70b=model == "llama-70b")
    ours = quant_types.tensor_types(quant, tensors, quant_shape, keep=Q.BF16)
    theirs = llama_cpp_types(
        arch, tensors, tuple(shape), int(quant_types.FILE_TYPES[quant].file_type)
    )
    for (name, dims), mine, ref in zip(tensors, ours, theirs, strict=True):
        assert quant_types.quantizable(name, dims) == (ref is not None), name
        if ref is not None:
            assert mine == ref, f"{quant} {name}: seedchat {mine.name}, llama.cpp {ref.name}"


def test_seed_oss_36b_q4_k_m_mix():
    tensors = model_tensors(*MODELS["seed-oss-36b"][:-1])
    shape = quant_types.QuantShape(64, 80, 8)
    types = dict(
        zip(
            [n for n, _ in tensors], quant_types.tensor_types("Q4_K_M", tensors, shape), strict=True
        )
    )
    assert types["output.weight"] == Q.Q6_K and types["token_embd.weight"] == Q.Q4_K
    more = [i for i in range(64) if quant_types.use_more_bits(i, 64)]
    assert more == [*range(8), *range(10, 56, 3), *range(56, 64)]  # 32 of 64 layers
    for i in range(64):
        want = Q.Q6_K if i in more else Q.Q4_K
        assert types[f"blk.{i}.attn_v.weight"] == types[f"blk.{i}.ffn_down.weight"] == want
        assert types[f"blk.{i}.attn_q.weight"] == types[f"blk.{i}.ffn_up.weight"] == Q.Q4_K
        assert types[f"blk.{i}.attn_q.bias"] == types[f"blk.{i}.attn_norm.weight"] == Q.F32
    counts = {t: list(types.values()).count(t) for t in set(types.values())}
    assert counts == {
        Q.Q4_K: 64 * 7 + 1 - 2 * len(more),
        Q.Q6_K: 2 * len(more) + 1,
        Q.F32: 64 * 5 + 1,
    }


def test_fallbacks():
    assert quant_types.fallback(Q.Q4_K, 4096) == Q.Q4_K
    assert [quant_types.fallback(t, 320) for t in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K)] == [
        Q.Q4_0,
        Q.Q4_0,
        Q.Q5_0,
        Q.Q5_1,
        Q.Q8_0,
    ]
    assert quant_types.fallback(Q.Q4_K, 336) == quant_types.fallback(Q.Q8_0, 336) == Q.F16


def test_chunking_does_not_change_the_bytes():
    rows = np.random.default_rng(0).standard_normal((300, 512), dtype=np.float32)
    imatrix = np.random.default_rng(1).random(512, dtype=np.float32) + 0.1
    with ggml_quants.Quantizer(threads=1) as one, ggml_quants.Quantizer(threads=3) as three:
        for t in (Q.Q4_K, Q.Q6_K, Q.Q2_K, Q.Q4_0):
            whole = one.quantize(t, rows, imatrix)
            assert whole.shape == (300, ggml_quants.row_size(t, 512))
            parts = np.concatenate(
                [three.quantize(t, rows[a : a + 7], imatrix) for a in range(0, 300, 7)]
            )
            assert whole.tobytes() == three.quantize(t, rows, imatrix).tobytes() == parts.tobytes()


def test_ggml_releases_the_gil_while_it_quantizes():
    rows = np.random.default_rng(0).standard_normal((1024, 4096), dtype=np.float32)
    counted, stop = [0], threading.Event()

    def spin() -> None:  # pure Python: runs only while it holds the GIL
        while not stop.is_set():
            counted[0] += 1

    def rate_while(work) -> float:
        before, started = counted[0], time.perf_counter()
        work()
        return (counted[0] - before) / (time.perf_counter() - started)

    with ggml_quants.Quantizer(threads=1) as q:
        q.quantize(Q.Q4_K, rows[:8])  # warm up
        spinner = threading.Thread(target=spin)
        spinner.start()
        try:
            alone = rate_while(lambda: time.sleep(0.2))
            during = rate_while(lambda: q.quantize(Q.Q4_K, rows))
        finally:
            stop.set()
            spinner.join()
    # were the GIL held in the C call, the spinner would stop for its whole length
    assert during > 0.2 * alone, (during, alone)
