"""seedchat on a remote server: tokens/s seen through the remote engine against what the
official ``openai`` SDK alone reads from the same server for the same request.

    .venv/bin/python benchmarks/bench_remote.py [--workdir DIR] [--tokens 256] [--rounds 9]
        [--server-threads 1]

The server is a real third-party one, llama-cpp-python's ``python -m llama_cpp.server``, in
its own process, serving SmolLM2-135M-Instruct (Q4_1; real text at about a hundred tokens/s
here: a remote model's pace as a client sees it). Both clients send the same plain
completion (same prompt, seed and sampler, so the same reply), alternating which goes first
in each round; each is timed from its first token to its last. Medians are reported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai
from bench_api import TEXT, smollm2

from seedchat.engine.remote import RemoteEngine
from seedchat.engine.remote_servers import RemoteServer
from seedchat.events import AnswerDelta, Done, ThinkingDelta
from seedchat.network import find_free_port
from seedchat.settings import GenerationOptions


def seedchat_run(engine: RemoteEngine, prompt: str, tokens: int) -> float:
    options = GenerationOptions(raw=True, max_tokens=tokens, temperature=1.1, top_p=0.95, seed=42)
    first = last = None
    count = 0
    for event in engine.generate(prompt, options):
        if isinstance(event, AnswerDelta | ThinkingDelta):
            last = time.perf_counter()
            first = first or last
        if isinstance(event, Done):
            count = event.generated_tokens
    return (count - 1) / (last - first)


def sdk_run(client: openai.OpenAI, model: str, prompt: str, tokens: int) -> float:
    first = last = None
    count = 0
    stream = client.completions.create(
        model=model,
        prompt=prompt,
        max_tokens=tokens,
        temperature=1.1,
        top_p=0.95,
        seed=42,
        stream=True,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            last = time.perf_counter()
            first = first or last
            count += 1
    return (count - 1) / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "seedchat-bench"
    )
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--server-threads",
        type=int,
        default=1,
        help="the server's threads: 1 leaves the other core to the client (a remote server "
        "has cores of its own; two threads here make the client and the server fight for "
        "two cores and the rates swing by half from run to run)",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = smollm2(args.workdir)
    port = find_free_port("127.0.0.1", 18600)
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        str(args.server_threads),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        for _ in range(600):
            try:
                if httpx.get(base + "/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        engine = RemoteEngine.connect(RemoteServer(base))
        client = openai.OpenAI(base_url=base, api_key="none", max_retries=0, timeout=600)
        ours, theirs = [], []
        for r in range(args.rounds):
            prompt = f"Round {r}: " + TEXT * 4
            runs = [
                (ours, lambda p=prompt: seedchat_run(engine, p, args.tokens)),
                (theirs, lambda p=prompt: sdk_run(client, engine.model.id, p, args.tokens)),
            ]
            for results, run in runs if r % 2 == 0 else reversed(runs):
                results.append(run())
        a, b = statistics.median(ours), statistics.median(theirs)
        print(
            f"{model.name} on llama_cpp.server, {args.tokens} tokens, {args.rounds} rounds (medians)"
        )
        print(
            f"  tokens/s  seedchat remote engine {a:.1f}   openai SDK {b:.1f}   ratio {a / b:.3f}"
            "  (goal >= 0.97)"
        )
        print(
            f"  rounds: seedchat {[f'{x:.1f}' for x in ours]}, SDK {[f'{x:.1f}' for x in theirs]}"
        )
        pairs = [x / y for x, y in zip(ours, theirs, strict=True)]
        print(f"  median of the rounds' own ratios {statistics.median(pairs):.3f}")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
