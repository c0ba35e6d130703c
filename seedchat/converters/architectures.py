"""What differs between the supported architectures, as data.

Each :class:`ArchSpec` says which GGUF architecture a Hugging Face architecture becomes,
which ``config.json`` keys feed which GGUF hyperparameters, and whether the query/key
projections need llama.cpp's rotary permutation. Tensor names come from gguf-py's
:class:`gguf.TensorNameMap` for that architecture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gguf
import numpy as np

from seedchat.errors import ConversionError

# (GGUFWriter method, config keys tried in order, required)
HParam = tuple[str, tuple[str, ...], bool]

COMMON_HPARAMS: tuple[HParam, ...] = (
    ("add_context_length", ("max_position_embeddings",), True),
    ("add_embedding_length", ("hidden_size",), True),
    ("add_feed_forward_length", ("intermediate_size",), True),
    ("add_head_count", ("num_attention_heads",), True),
    ("add_head_count_kv", ("num_key_value_heads", "num_attention_heads"), True),
    ("add_layer_norm_rms_eps", ("rms_norm_eps",), True),
)


@dataclass(frozen=True)
class ArchSpec:
    hf_arch: str
    gguf_arch: gguf.MODEL_ARCH
    description: str
    permute_qk: bool = False  # llama.cpp's LLaMA rotary layout for q_proj/k_proj
    rope_dimension_count: bool = False  # write <arch>.rope.dimension_count = head_dim

    @property
    def arch_name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.gguf_arch]


SPECS: dict[str, ArchSpec] = {
    "SeedOssForCausalLM": ArchSpec(
        "SeedOssForCausalLM", gguf.MODEL_ARCH.SEED_OSS, "Seed-OSS-36B (Base, Instruct)"
    ),
    "LlamaForCausalLM": ArchSpec(
        "LlamaForCausalLM",
        gguf.MODEL_ARCH.LLAMA,
        "Seed-Coder-8B (Base, Instruct, Reasoning)",
        permute_qk=True,
        rope_dimension_count=True,
    ),
}


def supported_list() -> str:
    return "; ".join(f"{s.hf_arch} ({s.description})" for s in SPECS.values())


def spec_for(config: dict[str, Any], config_path: str) -> ArchSpec:
    """The spec for a checkpoint's ``config.json``, or a ConversionError listing what works."""
    archs = config.get("architectures") or []
    for arch in archs:
        if arch in SPECS:
            return SPECS[arch]
    found = ", ".join(archs) or f"model_type {config.get('model_type')!r}"
    raise ConversionError(
        f"{config_path} describes a {found} model, which seedchat cannot convert.",
        hint=f"Supported: {supported_list()}.",
    )


def head_dim(config: dict[str, Any]) -> int:
    """Seed-OSS states head_dim explicitly (hidden/heads would be wrong); else derive it."""
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def write_hparams(
    writer: gguf.GGUFWriter, spec: ArchSpec, config: dict[str, Any], path: str
) -> None:
    for method, keys, required in COMMON_HPARAMS:
        value = next((config[k] for k in keys if config.get(k) is not None), None)
        if value is None:
            if required:
                raise ConversionError(
                    f"{path} lacks '{keys[0]}', which the {spec.hf_arch} conversion needs."
                )
            continue
        getattr(writer, method)(value)
    writer.add_block_count(int(config["num_hidden_layers"]))
    hd = head_dim(config)
    writer.add_key_length(hd)
    writer.add_value_length(hd)
    if spec.rope_dimension_count:
        writer.add_rope_dimension_count(hd)
    writer.add_vocab_size(int(config["vocab_size"]))
    # transformers 5 keeps rope settings in rope_parameters; older configs at the top level
    rope = {**(config.get("rope_scaling") or {}), **(config.get("rope_parameters") or {})}
    theta = config.get("rope_theta") or rope.get("rope_theta")
    if theta is not None:
        writer.add_rope_freq_base(float(theta))
    if rope.get("rope_type", rope.get("type")) == "linear" and rope.get("factor"):
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's LLaMA q/k row order (convert_hf_to_gguf's LlamaModel.permute)."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def tensor_transform(
    spec: ArchSpec, config: dict[str, Any], hf_name: str
) -> Callable[[np.ndarray], np.ndarray] | None:
    """A whole-tensor transform this tensor needs before writing, if any."""
    if not spec.permute_qk:
        return None
    if hf_name.endswith("self_attn.q_proj.weight") or hf_name.endswith("self_attn.q_proj.bias"):
        n = int(config["num_attention_heads"])
        return lambda w: _permute(w, n)
    if hf_name.endswith("self_attn.k_proj.weight") or hf_name.endswith("self_attn.k_proj.bias"):
        n = int(config.get("num_key_value_heads") or config["num_attention_heads"])
        return lambda w: _permute(w, n)
    return None


def gguf_tensor_name(name_map: gguf.TensorNameMap, hf_name: str) -> str | None:
    """The GGUF name of an HF tensor; None for tensors llama.cpp does not use."""
    if hf_name.endswith("rotary_emb.inv_freq"):
        return None
    return name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
