"""Build seedchat's bundled demo model: a tiny Seed-OSS model that thinks with reflect lines.

    .venv/bin/python packaging/demo_model/build.py [--steps N] [--seed S] [--out FILE]

Steps: train a byte-level BPE tokenizer (the seed-coder split rule, Seed's special and
added tokens) on the generated transcripts; save a Hugging Face checkpoint
(SeedOssForCausalLM, random init from the seed); train it on the transcripts with the
loss on the assistant's part only; convert it with seedchat's own converter to F16 and
write it atomically to seedchat/data/demo/. Needs torch, transformers and tokenizers
(the dev extras); the app itself does not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the official Seed-OSS chat template, shipped with seedchat (seedchat/data/templates)
TEMPLATE = HERE.parents[1] / "seedchat" / "data" / "templates" / "seed-oss.jinja"
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import transcripts  # noqa: E402

OUT = REPO / "seedchat" / "data" / "demo" / "seedchat-demo-seed-oss.gguf"
NAME = "seedchat demo (tiny Seed-OSS)"


def build_tokenizer(directory: Path, corpus: list[str], vocab_size: int):
    from seedchat.converters.tokenizer import train_seed_tokenizer

    template = TEMPLATE.read_text(encoding="utf-8")
    return train_seed_tokenizer(directory, corpus, vocab_size, chat_template=template)


def render(
    template: str, messages: list[dict], budget: int, tools: list[dict] | None = None
) -> str:
    """The prompt exactly as seedchat gives it to the model at inference (seedchat.seed.template),
    the tools sorted by name. An assistant message with ``as_written`` is the reply that
    made a call, read on from as the model wrote it (thinking included), as the tool loop
    does (``seedchat.seed.prompt_tokens.continued_tokens``): the prompt that reply answered, the
    reply, then the re-rendered prompt from that reply's ``<seed:eos>`` on."""
    from seedchat.seed.prompt_tokens import REPLY_OPEN
    from seedchat.seed.tags import EOS
    from seedchat.seed.template import ChatTemplate, Message

    for k, m in enumerate(messages):
        if "as_written" in m:
            first = render(template, messages[:k], budget, tools)
            head = first[: first.rfind(REPLY_OPEN) + len(REPLY_OPEN)]
            plain = {key: value for key, value in m.items() if key != "as_written"}
            whole = render(template, [*messages[:k], plain, *messages[k + 1 :]], budget, tools)
            assert whole.startswith(head), "the re-rendered prompt does not continue the reply"
            return first + m["as_written"] + whole[whole.index(EOS, len(head)) :]
    msgs = [Message(m["role"], m["content"], tool_calls=m.get("tool_calls")) for m in messages]
    return ChatTemplate(template).render(msgs, thinking_budget=budget, tools=tools)


def add_weight_arguments(ap: argparse.ArgumentParser, tool: float, content: float) -> None:
    ap.add_argument(
        "--tool-weight",
        type=float,
        default=tool,
        help="the loss weight of the tool task's tokens against the other tasks' (1: plain)",
    )
    ap.add_argument(
        "--content-weight",
        type=float,
        default=content,
        help="and of the tool task's content tokens (places, zones, times) on top of that",
    )


def loss_weights(
    targets: list, data, plain: int, tool: float, content: float
) -> list[list[float]] | None:
    """Per target token, its loss weight: 1 for the first ``plain`` samples (the tasks
    without tools), ``tool`` for the tool task's, times ``content`` for its tokens that
    hold a place, a zone or a time (:func:`transcripts.content_spans`). ``targets``: the
    samples' targets as the tokenizer encoded them (ids and offsets). None: all 1."""
    if tool == content == 1.0 or len(data) <= plain:
        return None
    out = []
    for k, ((_messages, _budget, target, _tools), enc) in enumerate(
        zip(data, targets, strict=True)
    ):
        if k < plain:
            out.append([1.0] * len(enc.ids))
            continue
        spans = transcripts.content_spans(target)
        out.append(
            [
                tool * (content if any(a < e and s < b for a, b in spans) else 1.0)
                for s, e in enc.offsets
            ]
        )
    return out


def reproducible(seed: int) -> None:
    """Fixed seeds, deterministic algorithms and 2 threads: the same file on each run."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--samples", type=int, default=1500)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--keep-checkpoint", type=Path, help="also keep the HF checkpoint here")
    add_weight_arguments(ap, tool=2.0, content=1.0)
    ap.add_argument(
        "--no-tool-task",
        dest="tool_task",
        action="store_false",
        help="without the tool task's transcripts (how the shipped model was built)",
    )
    args = ap.parse_args()

    from transformers import SeedOssConfig, SeedOssForCausalLM

    started = time.monotonic()
    reproducible(args.seed)
    template = TEMPLATE.read_text(encoding="utf-8")

    work = Path(tempfile.mkdtemp(prefix="seedchat-demo-"))
    ckpt = work / "checkpoint"
    ckpt.mkdir()
    # 1. tokenizer: trained on a first draft of the transcripts (counts from a rough rule)
    draft = transcripts.samples(
        args.samples, args.seed, lambda s: max(1, len(s) // 3), args.tool_task
    )
    corpus = [render(template, m, b, tools) + t for m, b, t, tools in draft]
    tok = build_tokenizer(ckpt, corpus, vocab_size=1400)
    count = lambda s: len(tok.encode(s).ids)  # noqa: E731
    data = transcripts.samples(args.samples, args.seed, count, args.tool_task)
    targets = [tok.encode(target) for _m, _b, target, _t in data]
    seqs = [
        (tok.encode(render(template, messages, budget, tools)).ids, target.ids)
        for (messages, budget, _target, tools), target in zip(data, targets, strict=True)
    ]
    lengths = [len(p) + len(t) for p, t in seqs]
    print(
        f"tokenizer: {tok.get_vocab_size()} tokens; {len(seqs)} samples, "
        f"length {min(lengths)}–{max(lengths)} (mean {sum(lengths) / len(lengths):.0f})"
    )

    # 2. the model
    vocab = (tok.get_vocab_size() + 63) // 64 * 64
    config = SeedOssConfig(
        vocab_size=vocab,
        hidden_size=192,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=48,
        max_position_embeddings=8192,
        rms_norm_eps=1e-6,
        attention_bias=True,
        attention_dropout=0.0,
        residual_dropout=0.0,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        rope_parameters={"rope_theta": 10000.0, "rope_type": "default"},
    )
    model = SeedOssForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f}M parameters")

    # 3. training: batches of similar length, loss on the assistant's tokens only
    weights = loss_weights(targets, data, args.samples, args.tool_weight, args.content_weight)
    train(model, seqs, args.steps, 3e-3, args.seed, started, weights=weights)
    # 4. convert with seedchat's converter
    save(model, ckpt, work, args.out, args.keep_checkpoint, started)
    shutil.rmtree(work, ignore_errors=True)


def train(
    model,
    seqs: list[tuple[list[int], list[int]]],
    steps: int,
    peak: float,
    seed: int,
    started: float,
    batch_tokens: int = 4000,
    warmup: int = 30,
    weights: list[list[float]] | None = None,
) -> None:
    """Train ``model`` on (prompt, target) token lists: batches of similar length drawn at
    random, the loss on the target's tokens only, AdamW with a warmup and a cosine decay.
    ``weights`` (one per target token of each sample) weigh the tokens in a batch's mean
    loss; without them the loss is the model's own."""
    import torch

    lengths = [len(p) + len(t) for p, t in seqs]
    opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=0.01, betas=(0.9, 0.98))
    order = sorted(range(len(seqs)), key=lambda i: lengths[i])
    batches, cur = [], []
    for i in order:
        cur.append(i)
        if len(cur) * lengths[i] >= batch_tokens:
            batches.append(cur)
            cur = []
    if cur:
        batches.append(cur)
    rng = random.Random(seed)
    model.train()
    for step in range(steps):
        idx = batches[rng.randrange(len(batches))]
        width = max(lengths[i] for i in idx)
        ids = torch.full((len(idx), width), 1, dtype=torch.long)
        labels = torch.full((len(idx), width), -100, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        weight = torch.zeros((len(idx), width))
        for row, i in enumerate(idx):
            p, t = seqs[i]
            ids[row, : len(p) + len(t)] = torch.tensor(p + t)
            labels[row, len(p) : len(p) + len(t)] = torch.tensor(t)
            mask[row, : len(p) + len(t)] = 1
            if weights is not None:
                weight[row, len(p) : len(p) + len(t)] = torch.tensor(weights[i])
        lr = peak * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in opt.param_groups:
            group["lr"] = lr
        if weights is None:
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        else:
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss = weighted_loss(logits, labels, weight)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 0 or step == steps - 1:
            print(
                f"step {step:4d}/{steps} loss {loss.item():.3f} lr {lr:.2e} "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )


def weighted_loss(logits, labels, weight):
    """The mean next-token cross-entropy over the labelled tokens, each token weighted by
    ``weight`` (labels' shape; the model's own loss when every weight is 1)."""
    import torch

    logits = logits[:, :-1].float()
    target = labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none"
    ).view(target.shape)
    w = (target != -100).float() * weight[:, 1:]
    return (ce * w).sum() / w.sum()


def save(model, ckpt: Path, work: Path, out: Path, keep: Path | None, started: float) -> Path:
    """Save the trained checkpoint (its tokenizer already in ``ckpt``) and convert it with
    seedchat's converter to F16 at ``out`` (written atomically by it)."""
    from seedchat.converters import convert_checkpoint

    model.eval()
    model.save_pretrained(ckpt)
    (ckpt / "generation_config.json").write_text(
        json.dumps({"temperature": 0.7, "top_p": 0.9, "bos_token_id": 0, "eos_token_id": 2})
    )
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["_name_or_path"] = NAME
    (ckpt / "config.json").write_text(json.dumps(cfg, indent=1))
    if keep:
        shutil.copytree(ckpt, keep, dirs_exist_ok=True)
    named = work / NAME  # the converter names the model after its folder (general.name)
    ckpt.rename(named)
    out = convert_checkpoint(named, out, quant="F16", force=True)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    print(
        f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, sha256 {digest}) "
        f"in {time.monotonic() - started:.0f} s"
    )
    return out


if __name__ == "__main__":
    main()
