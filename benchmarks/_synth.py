"""Random Seed-OSS-shaped checkpoints for benchmarks, written with numpy (no torch)."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def write_checkpoint(
    directory: Path,
    hidden: int = 2048,
    layers: int = 10,
    ff: int = 5632,
    heads: int = 16,
    kv_heads: int = 4,
    head_dim: int = 128,
    vocab: int = 32000,
    shard_bytes: int = 512 * 2**20,
    seed: int = 0,
) -> Path:
    """A bf16 SeedOssForCausalLM checkpoint with random weights, in shards."""
    from tiny_checkpoints import write_tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    write_tokenizer(directory)
    (directory / "chat_template.jinja").write_text(
        (REPO / "seedchat" / "data" / "templates" / "seed-oss.jinja").read_text()
    )
    config = {
        "architectures": ["SeedOssForCausalLM"],
        "model_type": "seed_oss",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": ff,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1e7,
        "attention_bias": True,
        "attention_out_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 1,
        "torch_dtype": "bfloat16",
    }
    (directory / "config.json").write_text(json.dumps(config, indent=1))
    shapes = {"model.embed_tokens.weight": (vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes |= {
            p + "input_layernorm.weight": (hidden,),
            p + "self_attn.q_proj.weight": (heads * head_dim, hidden),
            p + "self_attn.q_proj.bias": (heads * head_dim,),
            p + "self_attn.k_proj.weight": (kv_heads * head_dim, hidden),
            p + "self_attn.k_proj.bias": (kv_heads * head_dim,),
            p + "self_attn.v_proj.weight": (kv_heads * head_dim, hidden),
            p + "self_attn.v_proj.bias": (kv_heads * head_dim,),
            p + "self_attn.o_proj.weight": (hidden, heads * head_dim),
            p + "post_attention_layernorm.weight": (hidden,),
            p + "mlp.gate_proj.weight": (ff, hidden),
            p + "mlp.up_proj.weight": (ff, hidden),
            p + "mlp.down_proj.weight": (hidden, ff),
        }
    shapes |= {"model.norm.weight": (hidden,), "lm_head.weight": (vocab, hidden)}
    rng = np.random.default_rng(seed)
    shards: list[list[str]] = [[]]
    size = 0
    for name, shape in shapes.items():
        n = int(np.prod(shape)) * 2
        if size + n > shard_bytes and shards[-1]:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += n
    weight_map = {}
    for k, names in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {}, 0
        for name in names:
            n = int(np.prod(shapes[name])) * 2
            header[name] = {
                "dtype": "BF16",
                "shape": list(shapes[name]),
                "data_offsets": [offset, offset + n],
            }
            offset += n
            weight_map[name] = fname
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        with open(directory / fname, "wb") as fh:
            fh.write(struct.pack("<Q", len(raw)) + raw)
            for name in names:
                shape = shapes[name]
                scale = 1.0 if name.endswith("norm.weight") else 0.02
                x = rng.standard_normal(int(np.prod(shape)), dtype=np.float32) * scale
                fh.write((x.view(np.uint32) >> 16).astype(np.uint16).tobytes())
    (directory / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    return directory
