"""Reopening a long conversation after a restart: with its saved KV state and without.

    .venv/bin/python benchmarks/bench_reopen.py [--workdir DIR] [--history 8000]
        [--rounds 3] [--tokens 128] [--vocab 155136]

The model is the engine benchmark's random Seed-OSS-shaped GGUF (12 layers of hidden size
1024, Q8_0, Seed-OSS's vocabulary; made once by seedchat's converter). A conversation with
a history of ``--history`` tokens is answered once (as before closing the app): the engine
saves the state of its prompt. Then, in interleaved rounds, the conversation is reopened in
a newly loaded engine (a restart) and asked one more question:

- **with** its saved state (the cache folder put back as it was after the first answer, so
  every round restores the same), and
- **without** (``kv_cache_disk_gb`` 0: the whole prompt is evaluated).

Reported, medians over the rounds: time to first token of each and their ratio (goal ≤
0.15), the reply's own decode speed and its ratio (goal ≥ 0.98), the tokens restored and
evaluated, whether both replies were the same tokens; and the saved state's size on disk
per token, the copy under the engine's lock and the write in the background.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench_engine import SEED_OSS_VOCAB, bench_model

from seedchat.engine.kv_files import cache_root
from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.events import Done
from seedchat.seed.template import Message

THREADS = 2
TEXT = (
    "the harbour master wrote down every ship that came in that spring with its cargo of "
    "salt cloth copper and grain and the names of the sailors who signed for them"
)
WORDS = TEXT.split()


def history(engine: Engine, n_tokens: int) -> list[Message]:
    """A conversation whose prompt is about ``n_tokens`` tokens long."""
    messages: list[Message] = []
    i = 0
    options = GenerationOptions(budget=0)
    while not messages or len(engine.tokenize(engine.render(messages, options))) < n_tokens:
        words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(120)]
        messages.append(Message("user", f"Note {i}: " + " ".join(words) + "?"))
        messages.append(Message("assistant", f"Noted {i}: " + " ".join(words[::3]) + "."))
        i += 1
    return messages


def load(path: Path, n_ctx: int, disk_gb: float) -> Engine:
    options = LoadOptions(
        context_length=n_ctx, threads=THREADS, n_gpu_layers=0, kv_cache_disk_gb=disk_gb
    )
    return Engine.load(path, options)


def reply(engine: Engine, messages: list[Message], tokens: int) -> tuple[Done, list[int]]:
    options = GenerationOptions(budget=0, max_tokens=tokens, temperature=1.1, top_p=0.95, seed=42)
    done = [e for e in engine.generate(messages, options) if isinstance(e, Done)][-1]
    return done, list(engine._tokens)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/seedchat-bench-engine"))
    ap.add_argument("--history", type=int, default=8000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=SEED_OSS_VOCAB)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ["SEEDCHAT_HOME"] = tempfile.mkdtemp(prefix="seedchat-bench-reopen-")
    path = bench_model(args.workdir, args.vocab)
    n_ctx = args.history + 2048

    engine = load(path, n_ctx, 10)
    messages = history(engine, args.history)
    first, _ = reply(engine, messages, args.tokens)  # the last answer before closing
    engine.close()  # waits for the write
    saved = engine.snapshots.last
    print(f"model {path.name}, {THREADS} threads; history {first.prompt_tokens} tokens")
    print(
        f"saved state: {saved.tokens} tokens, {saved.bytes / 2**20:.1f} MiB "
        f"({saved.bytes / saved.tokens / 1024:.1f} KiB per token); copy under the lock "
        f"{saved.capture_seconds * 1000:.0f} ms, write in the background "
        f"{saved.write_seconds * 1000:.0f} ms",
        flush=True,
    )
    pristine = Path(tempfile.mkdtemp(prefix="seedchat-bench-kv-")) / "kv"
    shutil.copytree(cache_root(), pristine)

    messages = [
        *messages,
        Message("assistant", "Noted."),
        Message("user", "Which ship came in last, and what did it carry?"),
    ]
    runs: dict[str, list[tuple[Done, list[int]]]] = {"with": [], "without": []}
    for r in range(args.rounds):
        order = ("with", "without") if r % 2 == 0 else ("without", "with")
        for kind in order:
            if kind == "with":
                shutil.rmtree(cache_root())
                shutil.copytree(pristine, cache_root())
            engine = load(path, n_ctx, 10 if kind == "with" else 0)
            time.sleep(0.5)  # the load's page faults settle
            runs[kind].append(reply(engine, messages, args.tokens))
            engine.close()
        line = "  ".join(
            f"{k}: first token {v[-1][0].time_to_first_token:.3f} s, "
            f"{v[-1][0].tokens_per_second or 0:.1f} tok/s"
            for k, v in runs.items()
        )
        pair = runs["with"][-1][0].tokens_per_second / runs["without"][-1][0].tokens_per_second
        print(f"round {r + 1}: {line}  (decode with / without {pair:.3f})", flush=True)

    def median(kind: str, attr: str) -> float:
        return statistics.median(getattr(d, attr) or 0.0 for d, _ in runs[kind])

    ttft_with, ttft_without = (
        median("with", "time_to_first_token"),
        median("without", "time_to_first_token"),
    )
    tps_with, tps_without = (
        median("with", "tokens_per_second"),
        median("without", "tokens_per_second"),
    )
    done = runs["with"][0][0]
    same = all(w[1] == wo[1] for w, wo in zip(runs["with"], runs["without"], strict=True))
    print(
        f"\nreopened prompt: {done.prompt_tokens} tokens; with the saved state "
        f"{done.restored_prompt_tokens} restored, {done.evaluated_prompt_tokens} evaluated; "
        f"medians of {args.rounds} rounds"
    )
    print(f"{'':10s} {'first token':>12s} {'decode tok/s':>13s}")
    print(f"{'with':10s} {ttft_with:11.3f}s {tps_with:13.2f}")
    print(f"{'without':10s} {ttft_without:11.3f}s {tps_without:13.2f}")
    print(f"first token with / without = {ttft_with / ttft_without:.3f} (goal ≤ 0.15)")
    pairs = [
        w[0].tokens_per_second / wo[0].tokens_per_second
        for w, wo in zip(runs["with"], runs["without"], strict=True)
    ]
    print(
        f"decode with / without = {tps_with / tps_without:.3f} (goal ≥ 0.98); "
        f"median of the rounds' own ratios {statistics.median(pairs):.3f}"
    )
    print(f"replies token for token the same in every round: {same}")
    shutil.rmtree(pristine.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
