"""A long document's prefill: seedchat against a raw llama_decode loop, and a second
question about the same document after a restart (its saved KV state restored).

    .venv/bin/python benchmarks/bench_prefill.py [--workdir DIR] [--tokens 32000]
        [--rounds 3] [--threads 2]
    .venv/bin/python benchmarks/bench_prefill.py --batches [--tokens 2048]

Same GGUF (a random Seed-OSS-shaped model made by seedchat's converter: 2 layers of
hidden size 256, Q8_0: at 32K tokens attention over the long context is most of the
work, as it is for a real model reading a document), same threads, same ``n_batch``.

- prefill: seedchat's ``Engine.generate`` of a chat turn with a document of ``--tokens``
  tokens, timed from the call to its last :class:`~seedchat.events.Prefill` event (the
  prompt rendered and tokenized, the saved states looked up, every batch evaluated),
  against a loop of ``llama_decode`` over the same tokens in batches of ``n_batch``. A new
  document each round (so nothing is restored), the saved-state machinery on (its write
  of the previous round finished before the raw loop is timed), interleaved rounds,
  medians. Goal: seedchat/raw ≥ 0.97.
- reopen (after the first round): a new Engine (a restart), a second question about the same document in a new
  conversation: its first token against the first question's. Goal: ≤ 0.1.
- ``--batches``: the raw loop's prefill speed for each ``n_batch`` (= ``n_ubatch``) on
  this CPU, on bench_engine's larger model, interleaved rounds, medians: the CPU default.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import tempfile
import time
from pathlib import Path

from _synth import write_checkpoint

from seedchat.converters import convert_checkpoint
from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.events import Done, Prefill
from seedchat.seed.template import Message

SENTENCES = (
    "The {n}th ledger of the harbour office lists {k} crates of copper wire and {m} barrels "
    "of salted fish, signed by clerk number {c} on a rainy Tuesday.",
    "Section {n}: the committee noted that {k} lamps on the north pier were broken, and "
    "asked for {m} new ones before the winter storms of year {c}.",
)


def doc_model(work: Path) -> Path:
    out = work / "bench-prefill-h256-l2-q8.gguf"
    if not out.is_file():
        ckpt = write_checkpoint(
            work / "checkpoint-prefill",
            hidden=256,
            layers=2,
            ff=704,
            heads=4,
            kv_heads=2,
            head_dim=64,
            vocab=32000,
            seed=2,
        )
        convert_checkpoint(ckpt, out, quant="Q8_0", force=True)
    return out


def document(engine: Engine, tokens: int, tag: str) -> str:
    """A text of about ``tokens`` tokens, its first line ``tag`` (a new document)."""
    lines = [f"Document {tag}."]
    n, size = 0, 0
    while size < tokens:
        block = " ".join(
            SENTENCES[(n + i) % 2].format(n=n + i, k=(n + i) * 7 % 97, m=(n + i) % 13, c=n % 31)
            for i in range(50)
        )
        lines.append(block)
        size += len(engine.tokenize(block, parse_special=False))
        n += 50
    text = "\n".join(lines)
    for _ in range(3):  # cut to size, measured on the whole text
        size = len(engine.tokenize(text, parse_special=False))
        text = text[: int(len(text) * min(1.0, tokens / size))]
    return text


def options(conversation: str) -> GenerationOptions:
    return GenerationOptions(
        budget=0, max_tokens=4, temperature=0.0, seed=1, conversation=conversation
    )


def ask(engine: Engine, doc: str, question: str, conversation: str) -> tuple[float, Done, int]:
    """Seconds from the call to the last Prefill event (or to the first token when there
    is none), the reply's Done, and the prompt's tokens."""
    started = time.perf_counter()
    read_at = None
    done = None
    for event in engine.generate([Message("user", f"{doc}\n{question}")], options(conversation)):
        if isinstance(event, Prefill) and event.done == event.total:
            read_at = time.perf_counter()
        elif isinstance(event, Done):
            done = event
    assert done is not None and done.finish_reason in ("stop", "length"), done
    seconds = (read_at - started) if read_at else done.time_to_first_token
    return seconds, done, done.prompt_tokens


def raw_prefill(engine: Engine, tokens: list[int], n_batch: int) -> float:
    """The least a loop can do: llama_decode over ``tokens`` in batches of ``n_batch``."""
    lib, ctx = engine._llama, engine._ctx
    lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
    engine._tokens.clear()
    started = time.perf_counter()
    for i in range(0, len(tokens), n_batch):
        chunk = tokens[i : i + n_batch]
        arr = (ctypes.c_int32 * len(chunk))(*chunk)
        rc = lib.llama_decode(ctx, lib.llama_batch_get_one(arr, len(chunk)))
        assert rc == 0, rc
    seconds = time.perf_counter() - started
    lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
    return seconds


def timed(run, *args):
    """``run(*args)``'s result and the CPU time this process spent in it (all its threads): on
    a machine shared with other jobs, the work done, which their load does not change
    (seedchat's CPU time includes its reply of 4 tokens and the copy of its state)."""
    started = time.process_time()
    result = run(*args)
    return result, time.process_time() - started


def prompt_of(engine: Engine, doc: str, question: str) -> list[int]:
    tokens, _, _ = engine._fit([Message("user", f"{doc}\n{question}")], options("x"))
    return tokens


def bench_document(args: argparse.Namespace) -> None:
    path = doc_model(args.workdir)
    load = LoadOptions(
        context_length=32768, threads=args.threads, n_gpu_layers=0, kv_cache_disk_gb=8
    )
    q1, q2 = "Which ledger lists the most crates?", "Who signed the 12th ledger?"
    seed_s, raw_s, cpu_ratio = [], [], []
    engine = Engine.load(path, load)
    print(f"model: {path.name}, n_batch {engine.n_batch}, {args.threads} threads", flush=True)
    first_ttft = None
    for r in range(args.rounds):
        doc = document(engine, args.tokens, f"R{r}-{time.time_ns()}")
        tokens = prompt_of(engine, doc, q1)
        raw_first = r % 2 == 1  # the order alternates: a load that drifts favours neither
        if raw_first:
            raw, raw_cpu = timed(raw_prefill, engine, tokens, engine.n_batch)
        engine._prepare([0])  # an empty KV cache: the whole document is read
        (seconds, done, n), cpu = timed(ask, engine, doc, q1, f"round{r}")
        assert done.restored_prompt_tokens == 0 and done.evaluated_prompt_tokens == n
        if r == 0:
            first_ttft = done.time_to_first_token
        waited = time.perf_counter()
        assert engine.snapshots is not None and engine.snapshots.flush(600)
        waited = time.perf_counter() - waited
        if not raw_first:
            raw, raw_cpu = timed(raw_prefill, engine, tokens, engine.n_batch)
        seed_s.append(n / seconds)
        raw_s.append(n / raw)
        cpu_ratio.append(raw_cpu / cpu)
        print(
            f"round {r + 1}: {n} tokens · seedchat {n / seconds:.1f} tok/s · raw loop "
            f"{n / raw:.1f} tok/s · ratio {raw / seconds:.3f} (CPU time: "
            f"{raw_cpu / cpu:.3f}) · state written "
            f"{waited:.2f} s after the reply ({engine.snapshots.last.bytes / 2**20:.0f} MiB)",
            flush=True,
        )
        if r == 0:  # a restart: only the saved state is left
            engine.close()
            engine = Engine.load(path, load)
            _, again, n2 = ask(engine, doc, q2, "second")
            print(
                f"second question after a restart: first token {again.time_to_first_token:.2f}"
                f" s ({again.restored_prompt_tokens} tokens restored)",
                flush=True,
            )
    engine.close()
    s, raw = statistics.median(seed_s), statistics.median(raw_s)
    print(f"\nprefill of {args.tokens} tokens, median of {args.rounds} interleaved rounds:")
    print(f"  seedchat {s:.1f} tok/s, raw llama_decode loop {raw:.1f} tok/s")
    print(f"  seedchat/raw = {s / raw:.3f} (goal ≥ 0.97)")
    print(f"  by the process's CPU time (not the other jobs'): {statistics.median(cpu_ratio):.3f}")
    print(
        f"second question after a restart: {again.restored_prompt_tokens} of {n2} prompt "
        f"tokens restored, {again.evaluated_prompt_tokens} evaluated; first token "
        f"{again.time_to_first_token:.2f} s vs {first_ttft:.2f} s for the first question"
    )
    print(f"  second/first = {again.time_to_first_token / first_ttft:.3f} (goal ≤ 0.1)")


def bench_batches(args: argparse.Namespace) -> None:
    from bench_engine import bench_model, prompt_tokens

    path = bench_model(args.workdir)
    sizes = (128, 256, 512, 1024, 2048)
    speeds: dict[int, list[float]] = {n: [] for n in sizes}
    engines = {
        n: Engine.load(
            path,
            LoadOptions(
                context_length=args.tokens + 512,
                threads=args.threads,
                n_gpu_layers=0,
                n_batch=n,
                kv_cache_disk_gb=0,
            ),
        )
        for n in sizes
    }
    tokens = prompt_tokens(engines[512], 10**9)
    while len(tokens) < args.tokens:
        tokens = tokens * 2
    tokens = tokens[: args.tokens]
    for r in range(args.rounds):
        for n in sizes:
            _, cpu = timed(raw_prefill, engines[n], tokens, n)
            speeds[n].append(len(tokens) / cpu)  # per CPU second: the load does not count
        print(f"round {r + 1}: " + "  ".join(f"{n}: {v[-1]:.0f}" for n, v in speeds.items()))
    best = max(sizes, key=lambda n: statistics.median(speeds[n]))
    print(f"\nprefill of {len(tokens)} tokens on {path.name}, {args.threads} threads, tokens per")
    print("CPU second of the process (all its threads), medians:")
    for n in sizes:
        m = statistics.median(speeds[n])
        print(
            f"  n_batch = n_ubatch = {n:5d}: {m:7.1f} tok/s ({m / statistics.median(speeds[best]):.3f})"
        )
    for engine in engines.values():
        engine.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/seedchat-bench-prefill"))
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", action="store_true", help="measure n_batch on this CPU")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.batches:
        args.tokens = args.tokens or 2048
        bench_batches(args)
        return
    args.tokens = args.tokens or 32000  # the prompt fits a context of 32,768
    with tempfile.TemporaryDirectory() as home:  # the saved states of this run only
        os.environ["SEEDCHAT_HOME"] = home
        bench_document(args)


if __name__ == "__main__":
    main()
