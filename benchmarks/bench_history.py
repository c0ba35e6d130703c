"""Earlier thinking in the prompt: kept (Seed's template renders it back) vs left out.

    .venv/bin/python benchmarks/bench_history.py [--turns 5] [--rounds 3] [--budget 512]

The same five-question conversation on the bundled demo model (a tiny Seed-OSS model that
thinks with reflect reports), run twice per round: once giving the template each earlier
answer's thinking (``reasoning_content``), once leaving it out (what
``seedchat.chat.session.ChatSession`` does). For each, over the whole conversation: prompt
tokens (the context the history takes), prompt tokens the engine had to evaluate (what
the KV cache could not reuse), and the time to first token. Rounds alternate the two
policies; medians are reported, with the ratio kept/left-out.
"""

from __future__ import annotations

import argparse
import statistics

from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
from seedchat.events import AnswerDelta, Done, ThinkingDelta
from seedchat.models import demo_model
from seedchat.seed.template import Message

QUESTIONS = [
    "What is 12 plus 30?",
    "And 7 plus 8?",
    "Now 45 plus 38?",
    "What is 9 plus 9?",
    "And 100 plus 1?",
    "What is 3 plus 4?",
    "And 20 plus 22?",
]


def conversation(engine: Engine, keep: bool, turns: int, budget: int, seed: int) -> dict:
    history: list[Message] = []
    totals = {"prompt": 0, "evaluated": 0, "first_token": 0.0}
    for i, question in enumerate(QUESTIONS[:turns]):
        history.append(Message("user", question))
        answer, thinking, done = [], [], None
        options = GenerationOptions(budget=budget, max_tokens=700, seed=seed + i, temperature=0.7)
        for event in engine.generate(history, options):
            if isinstance(event, AnswerDelta):
                answer.append(event.text)
            elif isinstance(event, ThinkingDelta):
                thinking.append(event.text)
            elif isinstance(event, Done):
                done = event
        turn = engine.last_turn
        totals["prompt"] += turn.prompt_tokens
        totals["evaluated"] += turn.evaluated_prompt_tokens
        totals["first_token"] += done.time_to_first_token or 0.0
        kept = "".join(thinking) if keep else None
        history.append(Message("assistant", "".join(answer).strip(), thinking=kept))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=512)
    args = parser.parse_args()
    results: dict[bool, list[dict]] = {True: [], False: []}
    with Engine.load(demo_model(), LoadOptions(context_length=8192, threads=2)) as engine:
        for r in range(args.rounds):
            for keep in (r % 2 == 0, r % 2 != 0):  # alternate which goes first
                results[keep].append(conversation(engine, keep, args.turns, args.budget, 100 * r))
    print(f"{args.turns}-turn conversation, budget {args.budget}, {args.rounds} rounds (medians)")
    print(f"{'':24}{'kept':>10}{'left out':>10}{'ratio':>8}")
    for key, label in (
        ("prompt", "prompt tokens"),
        ("evaluated", "evaluated tokens"),
        ("first_token", "first-token time (s)"),
    ):
        kept = statistics.median(t[key] for t in results[True])
        out = statistics.median(t[key] for t in results[False])
        print(f"{label:24}{kept:>10.2f}{out:>10.2f}{kept / out:>8.2f}")


if __name__ == "__main__":
    main()
