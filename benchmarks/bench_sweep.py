"""The budget lab's own cost: a sweep against the same replies run directly.

    .venv/bin/python benchmarks/bench_sweep.py [--rounds 3] [--budgets 0,512] [--set demo]

Each round runs the same replies twice, in alternating order: directly (the one answer
path, ``answer(host, messages, settings)``, nothing saved, nothing checked) and as a sweep
(``run_sweep``: a session per reply, the check, each result saved in a real SQLite store,
progress and the time left). Replies are greedy with a fixed seed on the bundled demo
model, so both sides generate the same tokens; the demo's short replies are the worst case
for the ratio. Prints per round the wall times and their ratio, and the time each side spent
outside generation (wall minus the replies' own ``Done.seconds``), which machine load blurs
less: the sweep's own time is that difference. Goal: ≤ 5 % of the replies' time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from seedchat.budget_lab.runner import parse_budgets, reply_settings, run_sweep, start_sweep
from seedchat.budget_lab.sources import load_questions
from seedchat.chat.answer import answer
from seedchat.chat.session import ChatSession
from seedchat.engine.host import ModelHost
from seedchat.events import Done
from seedchat.models import demo_model
from seedchat.settings import ChatSettings, load_settings
from seedchat.store import Store, Sweeps

SETTINGS = ChatSettings(temperature=0.0, seed=7, enforcement="hard", lookup_decoding="off")


def direct(host: ModelHost, questions, budgets) -> tuple[float, float]:
    """(wall seconds, generation seconds) of the replies run straight through ``answer``."""
    start, generating = time.perf_counter(), 0.0
    for budget in budgets:
        for q in questions.questions:
            settings = reply_settings(SETTINGS, budget, 0)
            messages = ChatSession(host, None, settings).messages(q.question)
            for event in answer(host, messages, settings):
                if isinstance(event, Done):
                    generating += event.seconds
    return time.perf_counter() - start, generating


def swept(host: ModelHost, store: Store, questions, budgets) -> tuple[float, float]:
    """(wall seconds, generation seconds) of the same replies as a sweep."""
    sweeps = Sweeps(store.db)
    start = time.perf_counter()
    record = start_sweep(sweeps, questions, "demo", budgets, 1, SETTINGS)
    run_sweep(host, sweeps, record, on_progress=lambda progress: None)
    wall = time.perf_counter() - start
    return wall, sum(r.seconds for r in sweeps.runs(record.id))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budgets", default="0,512")
    ap.add_argument("--set", default="demo")
    args = ap.parse_args()
    budgets, questions = parse_budgets(args.budgets), load_questions(args.set)
    host = ModelHost(load_settings())
    host.load(demo_model(), remember=False)
    ratios, own = [], []
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        direct(host, questions, budgets)  # warm up: the first replies load the caches
        for i in range(args.rounds):
            order = ("direct", "sweep") if i % 2 == 0 else ("sweep", "direct")
            times = {}
            for side in order:
                times[side] = (
                    direct(host, questions, budgets)
                    if side == "direct"
                    else swept(host, store, questions, budgets)
                )
            (d_wall, d_gen), (s_wall, s_gen) = times["direct"], times["sweep"]
            ratios.append(s_wall / d_wall)
            own.append(((s_wall - s_gen) - (d_wall - d_gen)) / d_wall)
            print(
                json.dumps(
                    {
                        "round": i,
                        "replies": len(questions.questions) * len(budgets),
                        "direct_s": round(d_wall, 3),
                        "sweep_s": round(s_wall, 3),
                        "wall_ratio": round(s_wall / d_wall, 4),
                        "direct_outside_generation_s": round(d_wall - d_gen, 3),
                        "sweep_outside_generation_s": round(s_wall - s_gen, 3),
                        "sweep_own_pct": round(100 * own[-1], 2),
                    }
                ),
                flush=True,
            )
    print(
        json.dumps(
            {
                "median_wall_ratio": round(statistics.median(ratios), 4),
                "median_sweep_own_pct": round(100 * statistics.median(own), 2),
                "goal_pct": 5,
            }
        )
    )
    host.unload()


if __name__ == "__main__":
    main()
