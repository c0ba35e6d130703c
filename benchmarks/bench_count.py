"""What deciding whether a long document fits costs: counting its prompt as the engine will.

    .venv/bin/python benchmarks/bench_count.py [--tokens 1000000] [--rounds 5]

Before a question with files is sent, seedchat counts the prompt exactly as the engine will
tokenize it (:func:`seedchat.chat.fitting.count_prompt`: rendered by the model's template, the
template's tags special, every text as text), to choose whole, a longer context or
retrieval, and for the page's context meter. The reference is the floor: llama.cpp's
tokenizer called once on the document's text alone (``llama_tokenize``, no special
parsing). Rounds interleave the two (the order alternating), each with a new question so
that no count is kept from before; then the same prompt is counted again (what a second
check of one send costs: the count kept). Medians, and the ratios.
The demo model's tokenizer (Seed's pre-tokenizer, a small vocabulary). Results:
docs/benchmarks.md ("Counting a long prompt").
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench_prefill import document

from seedchat.chat.fitting import count_prompt
from seedchat.documents.read import attach, read_document
from seedchat.engine.local import Engine
from seedchat.models import demo_model
from seedchat.seed.template import Message
from seedchat.settings import GenerationOptions, LoadOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000, help="the document's size")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    options = GenerationOptions(budget=0)
    load = LoadOptions(context_length=4096, threads=2, kv_cache_disk_gb=0)
    with Engine.load(demo_model(), load) as engine:
        text = document(engine, args.tokens, "A")  # bench_prefill's generated document
        doc = read_document(text.encode(), "report.txt")

        def asked(r: int) -> list[Message]:  # a new question each round: never counted yet
            question = f"Which clause sets the notice? ({r})"
            return [Message("user", attach(question, [doc]), attachments=(doc,))]

        count_prompt(engine, asked(-1), options)  # the template compiled, the vocabulary read
        runs = {
            "seedchat count_prompt": lambda r: count_prompt(engine, asked(r), options),
            "llama_tokenize (text)": lambda r: len(engine.tokenize(text, parse_special=False)),
            "the same prompt again": lambda r: count_prompt(engine, asked(r), options),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        tokens: dict[str, int] = {}
        for r in range(args.rounds):
            first, second, again = runs
            order = [first, second] if r % 2 == 0 else [second, first]
            for name in [*order, again]:  # again: the kept count of this round's prompt
                start = time.perf_counter()
                tokens[name] = runs[name](r)
                times[name].append(time.perf_counter() - start)
    print(f"document: {len(text.encode()) / 1e6:.2f} MB, rounds: {args.rounds}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        print(f"{name:24s} {tokens[name]:>10,} tokens  median {median:.3f} s")
    ours, floor = medians["seedchat count_prompt"], medians["llama_tokenize (text)"]
    print(f"ratio (seedchat / tokenizer alone): {ours / floor:.2f}×")
    print(f"counted again (kept): {medians['the same prompt again'] / floor:.3f}× the tokenizer")


if __name__ == "__main__":
    main()
