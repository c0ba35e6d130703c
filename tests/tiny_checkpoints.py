"""Tiny Hugging Face checkpoints made by code: a Seed byte-level BPE tokenizer and random
Seed-OSS / Seed-Coder-style (Llama) models, saved the way the real ones are."""

from __future__ import annotations

import json
from pathlib import Path

TEMPLATE = (
    "{%- for m in messages %}<seed:bos>{{ m.role }}\n{{ m.content }}<seed:eos>{%- endfor %}"
    "{%- if add_generation_prompt %}<seed:bos>assistant\n{%- endif %}"
)

#: text mixing what the tokenizer must split the same way as llama.cpp
MIXED_CORPUS = [
    "Hello, world! It's a test: we'll see if they're right, I'd say. DON'T SHOUT.",
    "字节跳动 Seed 团队正式发布了 Seed-OSS 系列开源大型语言模型,提供强大的长上下文、推理能力。",
    "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\n\n",
    "Numbers 1234567890 and 3.14159, 2026-11-24, 0x1F; x²+y² = r²",
    "Emoji 🚀🔥 and 👩‍💻 mixed with text 😀!!",
    "   leading spaces\tand\ttabs    trailing   \n\n\r\n  \n",
    "<seed:bos>user\nWhat is 2+2?<seed:eos><seed:bos>assistant\n<seed:think>Simple.",
    "<seed:cot_budget_reflect>I have used 129 tokens, and there are 383 tokens remaining.</seed:cot_budget_reflect></seed:think>4",
    "<seed:tool_call>\n<function=get_weather>\n<parameter=city>北京</parameter>\n</function>\n</seed:tool_call>",
    "Ünïcödé — “quotes” ‘single’ … ¿qué? ¡sí! Привет мир. 日本語のテキスト。한국어",
]


def write_tokenizer(directory: Path, vocab_size: int = 600, template: str = TEMPLATE) -> int:
    """Train and save a Seed-style tokenizer; return its number of tokens."""
    from seedchat.converters.tokenizer import train_seed_tokenizer

    tok = train_seed_tokenizer(directory, MIXED_CORPUS * 20, vocab_size, chat_template=template)
    return tok.get_vocab_size()


def make_checkpoint(
    directory: Path,
    kind: str = "seed_oss",
    dtype: str = "float32",
    max_shard_size: str | None = None,
    seed: int = 0,
    head_dim: int = 32,
    **shape: int | bool,
) -> Path:
    """A random tiny model of ``kind`` ("seed_oss" or "llama") saved as safetensors.

    ``shape`` overrides the config's sizes (hidden_size, intermediate_size,
    num_hidden_layers, num_attention_heads, num_key_value_heads, tie_word_embeddings);
    ``head_dim`` is Seed-OSS's own (Llama's is hidden / heads).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, SeedOssConfig, SeedOssForCausalLM

    n_tokens = write_tokenizer(directory)
    vocab = (n_tokens + 63) // 64 * 64  # padded like real checkpoints: tests [PAD] entries
    common = dict(
        vocab_size=vocab,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    common.update(shape)
    torch.manual_seed(seed)
    if kind == "seed_oss":
        # head_dim (32 by default) is not hidden/heads (64): the converter must read it
        config = SeedOssConfig(
            **common,
            head_dim=head_dim,
            attention_bias=True,
            attention_dropout=0.0,
            residual_dropout=0.0,
            rope_parameters={"rope_theta": 1e7, "rope_type": "default"},
        )
        model = SeedOssForCausalLM(config)
    else:
        config = LlamaConfig(**common, rope_parameters={"rope_theta": 5e5, "rope_type": "default"})
        model = LlamaForCausalLM(config)
    with torch.no_grad():  # larger weights than the default init, so logits differ visibly
        for p in model.parameters():
            p.normal_(0, 0.08)
    model = model.to(getattr(torch, dtype))
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(directory, **kwargs)
    (directory / "generation_config.json").write_text(
        json.dumps({"temperature": 1.1, "top_p": 0.95, "bos_token_id": 0, "eos_token_id": 2})
    )
    return directory


def hf_logits(directory: Path, token_ids: list[int]):
    """Reference logits from transformers, computed in float32."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([token_ids])).logits[0].numpy()


def hf_tokenizer(directory: Path):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(directory / "tokenizer.json"))


#: the context the long-context model is trained for (Seed-OSS's real one)
LONG_CONTEXT = 131_072


def make_long_model(root: Path) -> Path:
    """A Seed-OSS-shaped model trained for a 131,072-token context, converted to GGUF (F16)
    under ``root``; its path. tests/conftest.py's session fixture ``long_model`` makes it once."""
    from seedchat.converters import convert_checkpoint
    from seedchat.models import read_gguf_info

    ckpt = make_checkpoint(root / "ckpt", "seed_oss", max_position_embeddings=LONG_CONTEXT)
    path = convert_checkpoint(ckpt, root / "long-seed-oss.gguf", quant="F16")
    assert read_gguf_info(path).context_length == LONG_CONTEXT
    return path
