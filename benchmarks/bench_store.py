"""Conversation store speed on a large history, and what saving a stream costs.

    .venv/bin/python benchmarks/bench_store.py [--conversations 10000] [--db PATH] [--runs 5]
        [--queries-only] [--engine-tokens 0]

1. Builds a database of 10,000 conversations / 100,000 messages (5 questions and 5
   answers each; answers with thinking; English with some Chinese) through the real
   schema and its search triggers, or reuses ``--db`` when it already holds them.
2. Times opening it, listing a page (first and a deep one), and full-text queries
   (rare and common English words, Chinese, a two-character Chinese word that takes
   the LIKE fallback, two terms). Goals: a page < 50 ms, a query < 100 ms.
3. Streaming: the same generation with and without a StreamRecorder (flushing once a
   second on its thread), alternating, and the ratio of their wall times. Goal:
   flushes add < 1 %. Two generators: a synthetic one whose tokens cost a fixed amount
   of numpy work (a 640x640 matrix product, which like llama.cpp releases the GIL;
   2,000 tokens), and the real engine on the bundled demo model (fast, so the worst
   case for the ratio). Besides wall times it prints ``recorder_work_pct``: the time
   spent in ``on_event`` and in flushes against the generation time, an upper bound of
   what the recorder can add that machine load does not blur.

Prints one JSON object per measurement.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from seedchat.events import AnswerDelta, Done, ThinkingDelta, ThinkingEnd, ThinkingStart
from seedchat.store import Store, new_id

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "seedchat" / "data" / "demo" / "seedchat-demo-seed-oss.gguf"

SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "pa", "qu", "ri", "do", "fe")
PROMPT = "the quick brown fox jumps over the lazy dog and keeps running " * 3
CHINESE = [
    "思考预算限制了模型的思考长度",
    "大语言模型需要很多内存",
    "今天的天气很好，我们去公园散步",
    "请解释一下这个函数的作用",
    "量子计算是一个有趣的话题",
    "这段代码有一个错误",
]


def emit(record: dict) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


def make_words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(n)]


def build(path: Path, n_conv: int, seed: int = 7) -> float:
    rng = random.Random(seed)
    vocab = make_words(rng, 5000)
    weights = [1 / (i + 1) for i in range(len(vocab))]  # Zipf-like: some words are common

    def text(n: int) -> str:
        words = rng.choices(vocab, weights=weights, k=n)
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words) + 1), rng.choice(CHINESE))
        return " ".join(words)

    t0 = time.perf_counter()
    store = Store(path)
    conn = store.conn
    base = time.time() - n_conv * 60
    conn.execute("BEGIN IMMEDIATE")
    for i in range(n_conv):
        cid, t = new_id(), base + i * 60
        parent = None
        rows = []
        for turn in range(5):
            qid, aid = new_id(), new_id()
            rows.append((qid, cid, parent, "user", text(15), "", t + turn * 10))
            rows.append((aid, cid, qid, "assistant", text(60), text(80), t + turn * 10 + 5))
            parent = aid
        conn.execute(
            "INSERT INTO conversations (id, title, title_is_auto, model, settings, current_leaf,"
            " created_at, updated_at) VALUES (?, ?, 1, 'seed-oss-36b.gguf', '{}', ?, ?, ?)",
            [cid, text(6), parent, t, t + 45],
        )
        conn.executemany(
            "INSERT INTO messages (id, conversation_id, parent_id, role, content, thinking,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?7)",
            rows,
        )
        if i % 1000 == 999:
            conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    store.close()
    return time.perf_counter() - t0


def timed(fn, repeat: int = 20) -> tuple[float, float]:
    """Median and max milliseconds of ``fn()`` over ``repeat`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


def bench_queries(path: Path) -> None:
    t0 = time.perf_counter()
    store = Store(path)
    emit(
        {
            "measure": "open (schema check + quick_check)",
            "ms": round((time.perf_counter() - t0) * 1000, 1),
        }
    )
    n_conv = store.count_conversations()
    n_msg = store.conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    size = path.stat().st_size / 2**20
    emit({"measure": "database", "conversations": n_conv, "messages": n_msg, "MiB": round(size, 1)})
    middle = store.conn.execute(
        "SELECT id FROM conversations WHERE seq = ?", [n_conv // 2]
    ).fetchone()[0]
    emit({"measure": "messages in the conversation read", "n": len(store.messages(middle))})
    for label, fn in [
        ("list page 1 (50)", lambda: store.list_conversations(limit=50)),
        ("list page 100 (50)", lambda: store.list_conversations(limit=50, offset=4950)),
        (
            "get conversation",
            lambda: store.get_conversation(middle),
        ),
    ]:
        med, worst = timed(fn)
        emit(
            {"measure": label, "median_ms": round(med, 2), "max_ms": round(worst, 2), "goal_ms": 50}
        )
    # The words the generator used, most frequent first (same seed as build()).
    vocab = make_words(random.Random(7), 5000)
    common, rare = vocab[0], vocab[-1]
    for label, query in [
        ("rare word", rare),
        ("common word", common),
        ("Chinese phrase", "思考预算"),
        ("Chinese 2 chars (LIKE fallback)", "量子"),
        ("Chinese 2 chars, no match (LIKE, full scan)", "鲸鱼"),
        ("two terms", f"{common} {rare}"),
        ("no match", "zzyzzyx"),
    ]:
        hits = store.search(query)
        med, worst = timed(lambda q=query: store.search(q), repeat=10)
        emit(
            {
                "measure": f"search: {label}",
                "query": query,
                "hits": len(hits),
                "median_ms": round(med, 2),
                "max_ms": round(worst, 2),
                "goal_ms": 100,
            }
        )
    store.close()


# -- streaming -------------------------------------------------------------------


def synthetic_events(n_tokens: int, work: np.ndarray):
    """An engine stand-in: each token costs one matrix product (GIL released)."""
    yield ThinkingStart()
    thinking = int(n_tokens * 0.75)
    for i in range(n_tokens):
        work @ work
        if i < thinking:
            yield ThinkingDelta(f" thought{i}", tokens=i + 1)
        elif i == thinking:
            yield ThinkingEnd(tokens=thinking, seconds=0.0)
            yield AnswerDelta(f" word{i}")
        else:
            yield AnswerDelta(f" word{i}")
    yield Done("stop", generated_tokens=n_tokens, thinking_tokens=thinking)


def run_stream(
    events, store: Store | None, conv_id: str | None, parent: str | None
) -> tuple[float, int, float, float]:
    """Wall seconds of consuming ``events``; with a store also flushes, seconds spent in
    ``on_event`` (caller thread) and in flushes (the recorder's thread)."""
    t0 = time.perf_counter()
    if store is None:
        for _ in events:
            pass
        return time.perf_counter() - t0, 0, 0.0, 0.0
    rec = store.record_stream(conv_id, parent)
    flush_seconds = [0.0]
    plain_flush = rec.flush

    def timed_flush() -> bool:
        f0 = time.perf_counter()
        try:
            return plain_flush()
        finally:
            flush_seconds[0] += time.perf_counter() - f0

    rec.flush = timed_flush
    in_event = 0.0
    for ev in events:
        e0 = time.perf_counter()
        rec.on_event(ev)
        in_event += time.perf_counter() - e0
    return time.perf_counter() - t0, rec.flush_count, in_event, flush_seconds[0]


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_stream(path: Path, runs: int, n_tokens: int, engine_tokens: int, size: int = 640) -> None:
    store = Store(path)
    conv = store.create_conversation(title="stream benchmark")
    q = store.add_message(conv.id, "user", "Tell me a long story.")

    # A fixed amount of work per token (a size x size matrix product, ~5-8 ms here):
    # calibrating it by timing is unreliable on a shared machine.
    work = np.random.default_rng(0).standard_normal((size, size))
    per_token = statistics.median(_seconds(lambda: work @ work) for _ in range(20))
    emit({"measure": "synthetic token cost", "size": size, "median_ms": round(per_token * 1e3, 2)})

    def compare(label: str, make_events) -> None:
        base, rec, flushes, in_event, in_flush = [], [], [], [], []
        for _ in range(runs):
            base.append(run_stream(make_events(), None, None, None)[0])
            seconds, n, ev_s, fl_s = run_stream(make_events(), store, conv.id, q.id)
            rec.append(seconds)
            flushes.append(n)
            in_event.append(ev_s)
            in_flush.append(fl_s)
        b, r = statistics.median(base), statistics.median(rec)
        work = (statistics.median(in_event) + statistics.median(in_flush)) / b
        emit(
            {
                "measure": f"stream: {label}",
                "without_store_s": round(b, 3),
                "with_recorder_s": round(r, 3),
                "ratio": round(r / b, 4),
                "overhead_pct": round((r / b - 1) * 100, 2),
                "ratio_best": round(min(rec) / min(base), 4),
                # on_event + flush time against generation time: the added time if none
                # of the flushing overlapped the generation (an upper bound).
                "recorder_work_pct": round(work * 100, 3),
                "runs_without_s": [round(x, 3) for x in base],
                "runs_with_s": [round(x, 3) for x in rec],
                "flushes_per_run": flushes,
                "on_event_ms_per_run": [round(x * 1000, 1) for x in in_event],
                "flush_ms_per_run": [round(x * 1000, 1) for x in in_flush],
                "goal_pct": 1.0,
            }
        )

    compare(
        f"synthetic {n_tokens} tokens ({size}x{size} matmul per token)",
        lambda: synthetic_events(n_tokens, work),
    )
    if DEMO.exists() and engine_tokens:
        from seedchat.engine.local import Engine, GenerationOptions, LoadOptions

        engine = Engine.load(DEMO, LoadOptions(context_length=4096, n_gpu_layers=0))

        def engine_events():
            # The demo model answers in well under a second; chain replies (fixed seeds, so
            # both variants see the same tokens) into one long stream of engine_tokens.
            total, seed = 0, 0
            while total < engine_tokens:
                seed += 1
                opts = GenerationOptions(raw=True, max_tokens=4000, seed=seed)
                for ev in engine.generate(PROMPT, opts):
                    if isinstance(ev, Done):
                        total += ev.generated_tokens
                        last = ev
                    else:
                        yield ev
            yield Done("stop", generated_tokens=total, seconds=last.seconds)

        compare(f"demo model via Engine.generate, {engine_tokens}+ tokens", engine_events)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--db", type=Path, help="database to build or reuse")
    parser.add_argument("--runs", type=int, default=5, help="alternating stream runs")
    parser.add_argument("--tokens", type=int, default=2000, help="synthetic stream tokens")
    parser.add_argument("--engine-tokens", type=int, default=6000, help="0 skips the demo model")
    parser.add_argument("--matrix", type=int, default=640, help="synthetic work per token")
    parser.add_argument("--queries-only", action="store_true", help="skip the streaming part")
    args = parser.parse_args()

    path = args.db or Path(tempfile.mkdtemp(prefix="seedchat-bench-")) / "seedchat.db"
    existing = 0
    if path.exists():
        with Store(path) as s:
            existing = s.count_conversations()
    if existing < args.conversations:
        if path.exists():
            raise SystemExit(f"{path} holds {existing} conversations; remove it to rebuild")
        seconds = build(path, args.conversations)
        emit(
            {"measure": "build", "conversations": args.conversations, "seconds": round(seconds, 1)}
        )
    bench_queries(path)
    if not args.queries_only:
        bench_stream(path, args.runs, args.tokens, args.engine_tokens, args.matrix)


if __name__ == "__main__":
    main()
