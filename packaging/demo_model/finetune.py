"""Teach a built demo model new transcripts by fine-tuning it, its tokenizer unchanged.

    .venv/bin/python packaging/demo_model/finetune.py [--from GGUF] [--steps N] [--out FILE]

A from-scratch build (build.py) takes about 17 minutes of two idle cores; this continues
the shipped model instead: it reads the GGUF back (its tokenizer, token for token, as a
``tokenizers`` BPE; its weights into a SeedOssForCausalLM), trains it on all the
transcripts (the old tasks, so they are kept, and the tool task) with a lower learning
rate, and writes it with seedchat's converter as build.py does. The vocabulary and every
token id stay as they were.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build  # noqa: E402
import transcripts  # noqa: E402


def _field(reader, key: str):
    return reader.fields[key].contents()


def tokenizer_from_gguf(reader, directory: Path):
    """The GGUF's byte-level BPE as a ``tokenizers`` tokenizer saved in ``directory`` (the
    same tokens, ids, merges, split rule and Seed tokens as build.py's)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    from seedchat.converters.tokenizer import (
        SEED_ADDED_TOKENS,
        SEED_CODER_SPLIT,
        SEED_SPECIAL_TOKENS,
    )

    tokens = _field(reader, "tokenizer.ggml.tokens")
    types = _field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    vocab = {t: i for i, (t, kind) in enumerate(zip(tokens, types, strict=True)) if kind != 5}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SEED_CODER_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SEED_SPECIAL_TOKENS))
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in SEED_ADDED_TOKENS])
    for t in (*SEED_SPECIAL_TOKENS, *SEED_ADDED_TOKENS):
        assert tok.token_to_id(t) == vocab[t], t  # the ids are kept
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<seed:bos>",
        "eos_token": "<seed:eos>",
        "pad_token": "<seed:pad>",
        "add_bos_token": False,
        "add_eos_token": False,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    (directory / "chat_template.jinja").write_text(_field(reader, "tokenizer.chat_template"))
    return tok


def model_from_gguf(reader):
    """A SeedOssForCausalLM with the GGUF's shape and weights (F16/F32 → float32)."""
    import gguf
    import numpy as np
    import torch
    from transformers import SeedOssConfig, SeedOssForCausalLM

    from seedchat.converters.architectures import gguf_tensor_name

    arch = "seed_oss"
    config = SeedOssConfig(
        vocab_size=int(_field(reader, f"{arch}.vocab_size")),
        hidden_size=int(_field(reader, f"{arch}.embedding_length")),
        intermediate_size=int(_field(reader, f"{arch}.feed_forward_length")),
        num_hidden_layers=int(_field(reader, f"{arch}.block_count")),
        num_attention_heads=int(_field(reader, f"{arch}.attention.head_count")),
        num_key_value_heads=int(_field(reader, f"{arch}.attention.head_count_kv")),
        head_dim=int(_field(reader, f"{arch}.attention.key_length")),
        max_position_embeddings=int(_field(reader, f"{arch}.context_length")),
        rms_norm_eps=1e-6,
        attention_bias=True,
        attention_dropout=0.0,
        residual_dropout=0.0,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        rope_parameters={
            "rope_theta": float(_field(reader, f"{arch}.rope.freq_base")),
            "rope_type": "default",
        },
    )
    model = SeedOssForCausalLM(config)
    names = gguf.TensorNameMap(gguf.MODEL_ARCH.SEED_OSS, config.num_hidden_layers)
    tensors = {t.name: t for t in reader.tensors}
    state = {}
    for hf_name, param in model.state_dict().items():
        name = gguf_tensor_name(names, hf_name)
        if name is None:
            continue
        data = np.array(tensors.pop(name).data, dtype=np.float32).reshape(param.shape)
        state[hf_name] = torch.from_numpy(data)
    assert not tensors, f"tensors left over: {sorted(tensors)}"
    model.load_state_dict(state, strict=False)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="source", type=Path, default=build.OUT)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--samples", type=int, default=1500)
    ap.add_argument("--out", type=Path, default=build.OUT)
    ap.add_argument("--keep-checkpoint", type=Path, help="also keep the HF checkpoint here")
    build.add_weight_arguments(ap, tool=1.0, content=6.0)
    args = ap.parse_args()

    import gguf

    started = time.monotonic()
    build.reproducible(args.seed)
    reader = gguf.GGUFReader(str(args.source))
    work = Path(tempfile.mkdtemp(prefix="seedchat-demo-"))
    ckpt = work / "checkpoint"
    tok = tokenizer_from_gguf(reader, ckpt)
    model = model_from_gguf(reader)
    template = build.TEMPLATE.read_text(encoding="utf-8")
    count = lambda s: len(tok.encode(s).ids)  # noqa: E731
    data = transcripts.samples(args.samples, args.seed, count)
    targets = [tok.encode(target) for _m, _b, target, _t in data]
    seqs = [
        (tok.encode(build.render(template, messages, budget, tools)).ids, target.ids)
        for (messages, budget, _target, tools), target in zip(data, targets, strict=True)
    ]
    lengths = [len(p) + len(t) for p, t in seqs]
    print(
        f"tokenizer: {tok.get_vocab_size()} tokens (kept); {len(seqs)} samples, "
        f"length {min(lengths)}–{max(lengths)} (mean {sum(lengths) / len(lengths):.0f})",
        flush=True,
    )
    weights = build.loss_weights(targets, data, args.samples, args.tool_weight, args.content_weight)
    build.train(model, seqs, args.steps, args.lr, args.seed, started, warmup=10, weights=weights)
    build.save(model, ckpt, work, args.out, args.keep_checkpoint, started)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
