"""Engine speed against llama-cpp-python's high-level API and a minimal raw loop.

    .venv/bin/python benchmarks/bench_engine.py [--workdir DIR] [--tokens 1024]
        [--vocab 155136] [--rounds 3]

Same GGUF (a random Seed-OSS-shaped model of a few hundred MB, Q8_0, made by seedchat's
converter: Seed-OSS's own vocabulary of 155,136 entries, 12 layers of hidden size 1024),
same machine, same threads, same sampler settings (temperature 1.1, top-p 0.95, fixed
seed), interleaved rounds; the best round of each is compared. The default reply length,
1024 tokens, is a Seed reply with a modest thinking budget; ``--tokens 128`` measures a
short one (where per-token costs that grow with the reply do not show yet).

- decode tokens/s: seedchat's Engine.generate vs Llama.create_completion(stream=True)
  vs a minimal loop of llama_decode + the same C sampler chain;
- prefill tokens/s for a 512-token prompt, likewise (saved KV states on, in a temporary
  seedchat home, each round reading its prompt whole: a state an earlier round saved is
  deleted first, else only 64 tokens would be evaluated, after a restore);
- a 10-turn conversation through the engine: time to first token of turn 10 vs turn 1.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import tempfile
import time
from pathlib import Path

from _synth import write_checkpoint

from seedchat.converters import convert_checkpoint
from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.events import AnswerDelta, Done
from seedchat.seed.template import Message

THREADS = 2
N_CTX = 4096


SEED_OSS_VOCAB = 155136


def bench_model(work: Path, vocab: int = SEED_OSS_VOCAB) -> Path:
    out = work / f"bench-seed-oss-v{vocab}-q8.gguf"
    if not out.is_file():
        ckpt = write_checkpoint(
            work / f"checkpoint-v{vocab}",
            hidden=1024,
            layers=12,
            ff=2816,
            heads=8,
            kv_heads=2,
            head_dim=128,
            vocab=vocab,
            seed=1,
        )
        convert_checkpoint(ckpt, out, quant="Q8_0", force=True)
    return out


def prompt_tokens(engine: Engine, n: int) -> list[int]:
    words = "the quick brown fox jumps over the lazy dog and keeps running far away " * 200
    return engine.tokenize(words)[:n]


def run_engine(engine: Engine, prompt: list[int], n: int) -> tuple[float, float]:
    text = "".join(
        engine._piece(t, ctypes.create_string_buffer(64)).decode("utf-8", "replace") for t in prompt
    )
    engine._prepare([0])
    if engine.snapshots is not None:  # the machinery stays on, but the prompt is read whole:
        engine.snapshots.flush()  # an earlier round's saved state is not restored
        shutil.rmtree(engine.snapshots.folder, ignore_errors=True)
    opts = GenerationOptions(raw=True, max_tokens=n, temperature=1.1, top_p=0.95, seed=42)
    done = None
    for ev in engine.generate(text, opts):
        if isinstance(ev, Done):
            done = ev
    assert done is not None and done.generated_tokens >= n * 0.9, done
    return done.prompt_tokens_per_second, done.tokens_per_second


def run_high_level(llm, prompt: list[int], n: int) -> tuple[float, float]:
    llm.reset()
    t0 = time.perf_counter()
    first = None
    count = 0
    for _ in llm.create_completion(
        prompt,
        max_tokens=n,
        temperature=1.1,
        top_p=0.95,
        top_k=0,
        min_p=0.0,
        repeat_penalty=1.0,
        seed=42,
        stream=True,
    ):
        count += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return len(prompt) / (first - t0), (count - 1) / (end - first)


def run_raw(engine: Engine, prompt: list[int], n: int) -> tuple[float, float]:
    """The least a loop can do: decode, sample with the C chain, decode the token."""
    lib, ctx = engine._llama, engine._ctx
    lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
    engine._tokens.clear()
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(0.95, 1))
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(1.1))
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(42))
    t0 = time.perf_counter()
    for i in range(0, len(prompt), 512):
        chunk = prompt[i : i + 512]
        arr = (ctypes.c_int32 * len(chunk))(*chunk)
        lib.llama_decode(ctx, lib.llama_batch_get_one(arr, len(chunk)))
    tok = lib.llama_sampler_sample(chain, ctx, -1)
    first = time.perf_counter()
    one = (ctypes.c_int32 * 1)()
    for _ in range(n - 1):
        one[0] = tok
        lib.llama_decode(ctx, lib.llama_batch_get_one(one, 1))
        tok = lib.llama_sampler_sample(chain, ctx, -1)
    end = time.perf_counter()
    lib.llama_sampler_free(chain)
    lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
    return len(prompt) / (first - t0), (n - 1) / (end - first)


def ten_turns(engine: Engine) -> list[float]:
    history: list[Message] = []
    ttft = []
    for i in range(10):
        history.append(
            Message("user", f"Question {i}: tell me something about the number {i * 7}.")
        )
        answer = []
        for ev in engine.generate(history, GenerationOptions(budget=0, max_tokens=48, seed=i)):
            if isinstance(ev, AnswerDelta):
                answer.append(ev.text)
            elif isinstance(ev, Done):
                ttft.append(ev.time_to_first_token)
        history.append(Message("assistant", "".join(answer)))
    return ttft


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/seedchat-bench-engine"))
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=SEED_OSS_VOCAB)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = bench_model(args.workdir, args.vocab)
    os.environ["SEEDCHAT_HOME"] = tempfile.mkdtemp()  # saved KV states of this run only
    from llama_cpp import Llama

    engine = Engine.load(path, LoadOptions(context_length=N_CTX, threads=THREADS, n_gpu_layers=0))
    llm = Llama(
        str(path),
        n_ctx=N_CTX,
        n_threads=THREADS,
        n_threads_batch=THREADS,
        n_batch=512,
        n_gpu_layers=0,
        verbose=False,
        flash_attn=True,
    )
    prompt = prompt_tokens(engine, args.prompt)
    runs: dict[str, list[tuple[float, float]]] = {"seedchat": [], "high-level": [], "raw loop": []}
    for r in range(args.rounds):
        runs["seedchat"].append(run_engine(engine, prompt, args.tokens))
        runs["high-level"].append(run_high_level(llm, prompt, args.tokens))
        runs["raw loop"].append(run_raw(engine, prompt, args.tokens))
        print(
            f"round {r + 1}: "
            + "  ".join(f"{k} {v[-1][0]:.0f}/{v[-1][1]:.1f}" for k, v in runs.items()),
            flush=True,
        )
    best = {k: (max(p for p, _ in v), max(d for _, d in v)) for k, v in runs.items()}
    size = path.stat().st_size / 2**20
    print(
        f"\nmodel: {path.name} ({size:.0f} MiB, vocab {args.vocab}), {THREADS} threads, prompt {len(prompt)} tokens, "
        f"{args.tokens} generated; best of {args.rounds} rounds"
    )
    print(f"{'':12s} {'prefill tok/s':>14s} {'decode tok/s':>13s}")
    for k, (p, d) in best.items():
        print(f"{k:12s} {p:14.1f} {d:13.2f}")
    s, h, raw = best["seedchat"], best["high-level"], best["raw loop"]
    print(
        f"decode: seedchat/high-level = {s[1] / h[1]:.3f} (goal ≥ 1.05), seedchat/raw = {s[1] / raw[1]:.3f} (goal ≥ 0.97)"
    )
    print(f"prefill: seedchat/high-level = {s[0] / h[0]:.3f}, seedchat/raw = {s[0] / raw[0]:.3f}")
    llm.close()
    ttft = ten_turns(engine)
    print("10-turn time to first token (s): " + " ".join(f"{t:.3f}" for t in ttft))
    print(
        f"turn 10 / turn 1 = {ttft[-1] / ttft[0]:.2f} (goal ≤ 1.2); prompt reuse: "
        f"{engine.last_turn.reused_tokens} of {engine.last_turn.prompt_tokens} tokens reused on turn 10"
    )
    engine.close()


if __name__ == "__main__":
    main()
