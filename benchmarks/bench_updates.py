"""The page server's own work for one streamed update of a reply.

    .venv/bin/python benchmarks/bench_updates.py [--rounds 7] [--updates 200]

The page as ``seedchat ui`` builds it (no model: the update's work does not need one), its
send event (nine outputs), and the update a reply streams: the chat with a 400-token answer,
every other output left alone. Gradio's own ``postprocess_data`` against the same with
:func:`seedchat.ui.skips.light_skips`, rounds interleaved (the order alternating), each
round ``--updates`` updates; milliseconds per update, medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ANSWER = "The fox looked at the sea and the boat, and learned the ropes one by one. " * 24


def send_event(blocks: Any) -> tuple[Any, Any]:
    """The send's event (the chat's respond) and its chat output."""
    fn = next(fn for fn in blocks.fns.values() if getattr(fn, "name", "") == "respond")
    chatbot = next(block for block in fn.outputs if type(block).__name__ == "Chatbot")
    return fn, chatbot


def per_update_ms(blocks: Any, fn: Any, chatbot: Any, updates: int) -> float:
    from gradio.state_holder import SessionState

    chat = [{"role": "user", "content": "Write a long story."}]
    chat.append({"role": "assistant", "content": ANSWER})
    state = SessionState(blocks)

    async def run() -> float:
        await blocks.postprocess_data(fn, {chatbot: chat}, state)  # the first builds the state
        started = time.perf_counter()
        for _ in range(updates):
            await blocks.postprocess_data(fn, {chatbot: chat}, state)
        return (time.perf_counter() - started) / updates * 1000

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--updates", type=int, default=200)
    args = parser.parse_args()
    os.environ["SEEDCHAT_HOME"] = tempfile.mkdtemp(prefix="bench-updates-")
    from seedchat.ui.gradio_import import prepare

    prepare()
    from seedchat.engine.host import ModelHost
    from seedchat.settings import load_settings
    from seedchat.ui.app import build_app
    from seedchat.ui.skips import light_skips

    settings = load_settings()
    pages = {name: build_app(ModelHost(settings), settings) for name in ("gradio", "light")}
    light_skips(pages["light"])
    times: dict[str, list[float]] = {name: [] for name in pages}
    for i in range(args.rounds):
        for name in list(pages) if i % 2 == 0 else reversed(list(pages)):
            fn, chatbot = send_event(pages[name])
            times[name].append(per_update_ms(pages[name], fn, chatbot, args.updates))
    for page in pages.values():
        page.seedchat_tools.close()
    result = {
        "bench": "updates",
        "outputs": len(send_event(pages["gradio"])[0].outputs),
        "updates_per_round": args.updates,
        **{f"{name}_ms_median": round(statistics.median(t), 3) for name, t in times.items()},
        "rounds": {name: [round(t, 3) for t in ts] for name, ts in times.items()},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
