"""Which type each tensor gets in a quantized file: llama.cpp's own rules, as data.

A quantized GGUF is not one type throughout: llama.cpp's quantizer picks a type per
tensor from the file type (the "ftype", e.g. Q4_K_M), the tensor's role, its layer and its
row length. This module transcribes those rules for the architectures seedchat converts
(``seed_oss`` and ``llama``, no experts) from ``src/llama-quant.cpp`` of the llama.cpp that
llama-cpp-python 0.3.36 vendors (line numbers of that file):

- ``llama_ftype_get_default_type`` (881): each ftype's default type (:data:`FILE_TYPES`);
- ``tensor_allows_quantization`` (287): which tensors are quantized (:func:`quantizable`);
- ``tensor_get_category`` (119): a tensor's role (:func:`category`);
- ``llama_tensor_get_type_impl`` (446): ``use_more_bits`` (452), the output / tied
  embeddings rule (490), ``attn_v`` (567, with the 70B rule at 593), ``ffn_down`` (624) and
  ``attn_output`` (669): the ``*_RULES`` tables, with the counters ``i_attention_wv`` /
  ``i_ffn_down`` that count tensors in the quantizer's order (:func:`llama_order`: by
  layer, then by name, ``weight_name_comparer`` in ``llama-model-loader.h``);
- ``tensor_type_fallback`` (390): the type used when a row length is not a multiple of the
  chosen type's block (:data:`FALLBACK`, then F16);
- ``tensor_requires_imatrix`` (856): which tensors cannot be quantized without an
  importance matrix (:func:`tensor_requires_imatrix`).

The rules that fire only for other architectures (Falcon, mixtures of experts, fused QKV)
or for the IQ file types are left out; the IQ4 types go through llama.cpp's quantizer
itself. ``tests/test_quantize_rules.py`` checks this table against llama.cpp's own
``llama_quant_compute_types`` on the real models' shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gguf

Q = gguf.GGMLQuantizationType
FT = gguf.LlamaFileType


@dataclass(frozen=True)
class FileType:
    """One quantized file type: its GGUF ``general.file_type`` and default tensor type."""

    name: str
    file_type: FT
    default: Q


#: the file types seedchat quantizes in one pass (``llama_ftype_get_default_type``)
FILE_TYPES: dict[str, FileType] = {
    ft.name: ft
    for ft in (
        FileType("Q8_0", FT.MOSTLY_Q8_0, Q.Q8_0),
        FileType("Q6_K", FT.MOSTLY_Q6_K, Q.Q6_K),
        FileType("Q5_K_M", FT.MOSTLY_Q5_K_M, Q.Q5_K),
        FileType("Q5_K_S", FT.MOSTLY_Q5_K_S, Q.Q5_K),
        FileType("Q4_K_M", FT.MOSTLY_Q4_K_M, Q.Q4_K),
        FileType("Q4_K_S", FT.MOSTLY_Q4_K_S, Q.Q4_K),
        FileType("Q3_K_L", FT.MOSTLY_Q3_K_L, Q.Q3_K),
        FileType("Q3_K_M", FT.MOSTLY_Q3_K_M, Q.Q3_K),
        FileType("Q2_K", FT.MOSTLY_Q2_K, Q.Q2_K),
        FileType("Q2_K_S", FT.MOSTLY_Q2_K_S, Q.Q2_K),
        FileType("Q4_0", FT.MOSTLY_Q4_0, Q.Q4_0),
    )
}


@dataclass(frozen=True)
class QuantShape:
    """What of the model the type rules look at (llama.cpp's hparams and model type)."""

    n_layers: int
    n_head: int
    n_head_kv: int
    is_70b: bool = False  # LLM_TYPE_70B: a llama of 80 layers with grouped-query attention

    @property
    def n_gqa(self) -> int:
        return self.n_head // self.n_head_kv if self.n_head_kv else 0


@dataclass(frozen=True)
class RuleInput:
    """One tensor as a rule sees it: its index among its kind (the layer) and the count."""

    i: int
    n: int
    n_gqa: int
    has_imatrix: bool


Rule = Callable[[RuleInput], "Q | None"]


def use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's ``use_more_bits``: the first and last eighth, and every third between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _more_bits(t: Q) -> Rule:
    return lambda r: t if use_more_bits(r.i, r.n) else None


# llama_tensor_get_type_impl, `category_is_attn_v(category)` branch
ATTN_V_RULES: dict[str, Rule] = {
    "Q2_K": lambda r: Q.Q4_K if r.n_gqa >= 4 else Q.Q3_K,
    "Q2_K_S": lambda r: Q.Q4_K if r.n_gqa >= 4 else None,
    "Q3_K_M": lambda r: Q.Q5_K if r.i < 2 else Q.Q4_K,
    "Q3_K_L": lambda r: Q.Q5_K,
    "Q4_K_M": _more_bits(Q.Q6_K),
    "Q5_K_M": _more_bits(Q.Q6_K),
    "Q4_K_S": lambda r: Q.Q5_K if r.i < 4 else None,
}

# the `tensor_category::FFN_DOWN` branch (not Falcon)
FFN_DOWN_RULES: dict[str, Rule] = {
    "Q2_K": lambda r: Q.Q3_K,
    "Q2_K_S": lambda r: Q.Q4_K if r.i < r.n // 8 else None,
    "Q3_K_M": lambda r: Q.Q5_K if r.i < r.n // 16 else Q.Q4_K,
    "Q3_K_L": lambda r: Q.Q5_K,
    "Q4_K_M": _more_bits(Q.Q6_K),
    "Q5_K_M": _more_bits(Q.Q6_K),
    "Q4_K_S": lambda r: Q.Q5_K if r.i < r.n // 8 else None,
    "Q4_0": lambda r: Q.Q4_1 if r.has_imatrix and r.i < r.n // 8 else None,
}

# the `tensor_category::ATTENTION_OUTPUT` branch (not Falcon, not 8 experts)
ATTN_OUTPUT_RULES: dict[str, Q] = {"Q2_K": Q.Q3_K, "Q3_K_M": Q.Q4_K, "Q3_K_L": Q.Q5_K}

# tensor_type_fallback: the 256-wide types step down to a 32-wide one
FALLBACK: dict[Q, Q] = {
    Q.Q2_K: Q.Q4_0,
    Q.Q3_K: Q.Q4_0,
    Q.Q4_K: Q.Q5_0,
    Q.Q5_K: Q.Q5_1,
    Q.Q6_K: Q.Q8_0,
}

# tensor_requires_imatrix (besides ggml_quantize_requires_imatrix's own types)
IMATRIX_TYPES = frozenset({Q.IQ3_XXS, Q.IQ2_XXS, Q.IQ2_XS, Q.IQ2_S, Q.IQ1_M, Q.IQ1_S})

_LAYER = re.compile(r"blk\.(\d+)\.")


def block_size(t: Q) -> int:
    return gguf.GGML_QUANT_SIZES[t][0]


def llama_order(names: Sequence[str]) -> list[int]:
    """Indices of ``names`` in llama.cpp's tensor order (``weight_name_comparer``):
    tensors outside the blocks first, then block by block, each group by name."""

    def key(i: int) -> tuple[int, str]:
        m = _LAYER.match(names[i])
        return (int(m.group(1)) if m else -1, names[i])

    return sorted(range(len(names)), key=key)


def quantizable(name: str, shape: Sequence[int]) -> bool:
    """``tensor_allows_quantization`` for these architectures: 2-D weights but norms."""
    return len(shape) >= 2 and name.endswith("weight") and "_norm.weight" not in name


def category(name: str) -> str:
    """``tensor_get_category``, reduced to the roles these architectures have."""
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for part, cat in (
        ("attn_qkv.weight", "attn_v"),
        ("attn_kv_b.weight", "attn_v"),
        ("attn_v.weight", "attn_v"),
        ("attn_output.weight", "attn_output"),
        ("ffn_down", "ffn_down"),
    ):
        if part in name:
            return cat
    return "other"


def fallback(t: Q, n_cols: int) -> Q:
    """``tensor_type_fallback``: a type whose block divides the row, else F16."""
    if n_cols % block_size(t) == 0:
        return t
    t = FALLBACK.get(t, t)
    return t if n_cols % block_size(t) == 0 else Q.F16


def _output_type(default: Q, n_cols: int) -> Q:
    if n_cols % block_size(default) != 0:
        return Q.Q8_0
    return default if default == Q.Q8_0 else Q.Q6_K


class _Counters:
    def __init__(self, names: Sequence[str], shape: QuantShape) -> None:
        self.n_attn_v = sum(category(n) == "attn_v" for n in names)
        self.n_ffn_down = shape.n_layers
        self.i_attn_v = 0
        self.i_ffn_down = 0
        self.tied = "output.weight" not in names  # token_embd then follows output's rule


def _rule_type(
    ftype: str, name: str, n_cols: int, c: _Counters, shape: QuantShape, imatrix: bool
) -> Q:
    default = FILE_TYPES[ftype].default
    cat = category(name)
    if cat == "output" or (c.tied and cat == "token_embd"):
        return _output_type(default, n_cols)
    if cat == "attn_v":
        rule = ATTN_V_RULES.get(ftype)
        t = rule(RuleInput(c.i_attn_v, c.n_attn_v, shape.n_gqa, imatrix)) if rule else None
        t = default if t is None else t
        if shape.is_70b and t in (Q.Q3_K, Q.Q4_K):
            t = Q.Q5_K
        c.i_attn_v += 1
        return t
    if cat == "ffn_down":
        rule = FFN_DOWN_RULES.get(ftype)
        t = rule(RuleInput(c.i_ffn_down, c.n_ffn_down, shape.n_gqa, imatrix)) if rule else None
        c.i_ffn_down += 1
        return default if t is None else t
    if cat == "attn_output":
        return ATTN_OUTPUT_RULES.get(ftype, default)
    return default


def tensor_types(
    ftype: str,
    tensors: Sequence[tuple[str, Sequence[int]]],
    shape: QuantShape,
    has_imatrix: bool = False,
    keep: Q = Q.F32,
) -> list[Q]:
    """The type of each ``(GGUF name, numpy shape)`` in a file of type ``ftype``.

    Tensors that are not quantized keep ``keep`` if 2-D and F32 if 1-D (as they are in
    the 16-bit file llama.cpp's quantizer would read). ``shape`` is the model's.
    """
    names = [n for n, _ in tensors]
    counters = _Counters(names, shape)
    out: list[Q] = [Q.F32] * len(tensors)
    for i in llama_order(names):
        name, dims = tensors[i]
        if not quantizable(name, dims):
            out[i] = keep if len(dims) >= 2 else Q.F32
            continue
        t = _rule_type(ftype, name, int(dims[-1]), counters, shape, has_imatrix)
        out[i] = fallback(t, int(dims[-1]))
    return out


def tensor_requires_imatrix(
    name: str, t: Q, ftype: str, type_requires: Callable[[Q], bool]
) -> bool:
    """``tensor_requires_imatrix``: may this tensor not be quantized without an imatrix?"""
    if category(name) in ("output", "token_embd"):
        return False
    return t in IMATRIX_TYPES or type_requires(t) or (t == Q.Q2_K and ftype == "Q2_K_S")
