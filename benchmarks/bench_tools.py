"""Tools (issue 22): what a tool result costs the next reply, the tools block reused, a
call's overhead, each tool's prompt cost.

    SEEDCHAT_TOOLS_VENV=.venv-tools .venv/bin/python benchmarks/bench_tools.py \\
        [--workdir DIR] [--rounds 3] [--calls 40]

Each figure is against a reference in the same run, with the goal it is held to:

1. **After a tool result** (a chat session with 20 tools on, the reply that calls
   ``get_current_time`` thinking first, then the answer; ``Engine.script_next_reply`` makes
   the replies exact): the prompt tokens the answer's reply evaluated against the tokens of
   the tool result. Goal: evaluated ≤ result + 32 (no re-read of the calling reply, the
   conversation or the tools block). On the demo model (its template is the official
   Seed-OSS one) and on the generated model of 2.
2. **The tools block reused**: the same session on a generated Seed-OSS-shaped model (random
   weights, 6 layers of hidden size 768, Q8_0, made by seedchat's converter; the demo
   model's small vocabulary, so the 20 tools are thousands of tokens and their prefill
   takes seconds on a CPU). The first reply of the first turn (the cold prompt: tools
   block and question, the reference) against the reply after the tool result and the
   first reply of the second turn. Goal: second turn's first token ≤ 0.2 × the first's.
   Rounds start from an empty cache (no saved KV states); medians.
3. **A call's overhead**: ``get_current_time`` of the real ``mcp-server-time`` through
   seedchat (``McpTools`` → ``ToolHost``, what the tool loop calls) against the ``mcp``
   SDK's ``ClientSession`` calling its own instance of the same server directly (timed
   around ``call_tool`` in its event loop); calls interleaved, medians. Goal: ≤ 20 ms.
4. **Each tool's prompt cost** in the template's two forms (Python signatures, the
   default, and JSON schemas): the tools of ``bench_tool_prompt.py`` and the 20 here, in
   tokens of the demo model's tokenizer (a real Seed-OSS tokenizer needs fewer) and in
   characters.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _synth import write_checkpoint
from bench_tool_prompt import QUESTION, TOOLS, tool

from seedchat.chat.session import ChatSession, SessionTools
from seedchat.converters import convert_checkpoint
from seedchat.engine.local import Engine
from seedchat.events import Done, ToolResult
from seedchat.models import demo_model
from seedchat.settings import ChatSettings, LoadOptions
from seedchat.store import Store
from seedchat.tools.protocol import ApproveAll, PendingCall, ToolOutcome

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' tool runner
from tests.local_tools import GET_CURRENT_TIME, LocalTools

THREADS = 2
NOW = 1_700_000_000.0
S = {"type": "string"}
INT = {"type": "integer"}


def _params(**kinds: dict) -> dict:
    return {
        name: {**kind, "description": f"The {name.replace('_', ' ')}."}
        for name, kind in kinds.items()
    }


#: 20 tools: mcp-server-time's two, bench_tool_prompt's search, and 17 of the kinds an MCP
#: user turns on (files, web, calendar, mail, issues…), each with a few parameters.
TWENTY = [
    GET_CURRENT_TIME,
    *TOOLS[1:],
    *(
        tool(name, description, _params(**params), list(params)[:1])
        for name, description, params in (
            ("read_file", "Read a text file and return its contents.", {"path": S}),
            ("write_file", "Write text to a file, replacing it.", {"path": S, "content": S}),
            ("list_directory", "List the entries of a folder.", {"path": S}),
            ("move_file", "Move or rename a file.", {"source": S, "destination": S}),
            (
                "web_search",
                "Search the web and return the top results.",
                {"query": S, "count": INT},
            ),
            (
                "fetch_url",
                "Fetch a web page and return it as Markdown.",
                {"url": S, "max_length": INT},
            ),
            ("get_weather", "The weather forecast for a place.", {"location": S, "days": INT}),
            ("list_events", "The calendar's events between two dates.", {"start": S, "end": S}),
            ("create_event", "Add an event to the calendar.", {"title": S, "start": S, "end": S}),
            ("send_email", "Send an email.", {"to": S, "subject": S, "body": S}),
            ("search_email", "Search the mailbox.", {"query": S, "limit": INT}),
            ("create_issue", "Open an issue in a repository.", {"repo": S, "title": S, "body": S}),
            ("list_issues", "List a repository's open issues.", {"repo": S, "label": S}),
            ("git_log", "The latest commits of a repository.", {"repo_path": S, "max_count": INT}),
            ("query_database", "Run a read-only SQL query.", {"sql": S}),
            ("run_python", "Run Python code in a sandbox and return its output.", {"code": S}),
            ("translate_text", "Translate text into a language.", {"text": S, "target": S}),
        )
    ),
]
assert len(TWENTY) == 20

CALL_REPLY = (
    "<seed:think>\nThe user wants the time in Tokyo. I should call get_current_time with "
    "the timezone Asia/Tokyo.\n</seed:think>\n<seed:tool_call>\n<function=get_current_time>\n"
    "<parameter=timezone>Asia/Tokyo</parameter>\n</function>\n</seed:tool_call>"
)
ANSWER = "<seed:think>\nThe tool says 07:13.\n</seed:think>\nIt is 07:13 on Wednesday in Tokyo."
SECOND = "<seed:think>\nA short question.\n</seed:think>\nYou are welcome."


class Twenty:
    """The 20 tools on; ``get_current_time`` answered by seedchat's built-in one."""

    def __init__(self) -> None:
        self.local = LocalTools(now=lambda: NOW)

    def specs(self) -> list[dict]:
        return TWENTY

    def server_of(self, name: str) -> str | None:
        return None

    def call(self, call: PendingCall, cancel: threading.Event) -> ToolOutcome:
        return self.local.call(call, cancel)


class Scripted:
    """The engine, each reply's text given in turn (``Engine.script_next_reply``)."""

    def __init__(self, engine: Engine, *replies: str) -> None:
        self.engine, self.replies = engine, list(replies)

    def generate(self, messages, options, cancel=None):
        self.engine.script_next_reply(self.replies.pop(0))
        return self.engine.generate(messages, options, cancel)

    def render(self, messages, options):
        return self.engine.render(messages, options)


# -- 1 and 2: a session with 20 tools ------------------------------------------------------


def session_round(engine: Engine, store: Store) -> dict[str, float]:
    """Turn 1 (a call, its result, the answer) and turn 2, from an empty cache."""
    engine._prepare([0])  # empty the KV cache: the first reply is cold
    scripted = Scripted(engine, CALL_REPLY, ANSWER, SECOND)
    settings = ChatSettings(max_tokens=200, temperature=0)
    session = ChatSession(scripted, store, settings, tools=SessionTools(Twenty(), ApproveAll()))
    first = list(session.turn("What time is it in Tokyo?"))
    second = list(session.turn("Thank you!"))
    dones = [e for e in first + second if isinstance(e, Done)]
    result = next(e for e in first if isinstance(e, ToolResult))
    return {
        "prompt": dones[0].prompt_tokens,
        "cold_evaluated": dones[0].evaluated_prompt_tokens,
        "result": len(engine.tokenize(result.content, parse_special=False)),
        "after_evaluated": dones[1].evaluated_prompt_tokens,
        "turn2_evaluated": dones[2].evaluated_prompt_tokens,
        "cold_ttft": dones[0].time_to_first_token,
        "after_ttft": dones[1].time_to_first_token,
        "turn2_ttft": dones[2].time_to_first_token,
    }


def generated_model(work: Path) -> Path:
    out = work / "bench-tools-seed-oss-768x6-q8.gguf"
    if not out.is_file():
        ckpt = write_checkpoint(
            work / "checkpoint-tools",
            hidden=768,
            layers=6,
            ff=2048,
            heads=6,
            kv_heads=2,
            head_dim=128,
            vocab=32000,
            seed=3,
        )
        convert_checkpoint(ckpt, out, quant="Q8_0", force=True)
    return out


def bench_sessions(model: Path, label: str, rounds: int) -> dict[str, float]:
    load = LoadOptions(n_gpu_layers=0, context_length=16384, threads=THREADS, kv_cache_disk_gb=0)
    runs = []
    with (
        Engine.load(model, load) as engine,
        tempfile.TemporaryDirectory() as tmp,
        Store(Path(tmp) / "conversations.db") as store,
    ):
        for _ in range(rounds):
            runs.append(session_round(engine, store))
    med = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    over = med["after_evaluated"] - med["result"]
    print(f"\n{label}: 20 tools on, {rounds} rounds (medians)")
    print(f"  cold prompt (tools block + question): {med['prompt']:.0f} tokens")
    print(
        f"  the reply after the tool result evaluated {med['after_evaluated']:.0f} tokens "
        f"for a result of {med['result']:.0f}: result + {over:.0f} "
        f"(goal ≤ result + 32: {'PASS' if over <= 32 else 'FAIL'})"
    )
    print(f"  turn 2's first reply evaluated {med['turn2_evaluated']:.0f} tokens")
    return med


def report_first_tokens(med: dict[str, float]) -> None:
    cold, after, turn2 = med["cold_ttft"], med["after_ttft"], med["turn2_ttft"]
    ratio = turn2 / cold
    print("  first-token time (s):")
    print(f"    turn 1, cold (reference)     {cold:8.3f}")
    print(f"    after the tool result        {after:8.3f}  {after / cold:6.3f}x")
    print(
        f"    turn 2                       {turn2:8.3f}  {ratio:6.3f}x "
        f"(goal ≤ 0.2x: {'PASS' if ratio <= 0.2 else 'FAIL'})"
    )


# -- 3: a call's overhead ------------------------------------------------------------------


def time_server() -> Path:
    venv = Path(os.environ.get("SEEDCHAT_TOOLS_VENV", Path(__file__).parents[1] / ".venv-tools"))
    path = venv / ("Scripts" if sys.platform == "win32" else "bin") / "mcp-server-time"
    if not path.exists():
        sys.exit(f"mcp-server-time is not at {path}: run 'bash packaging/install.sh --dev'.")
    return path


class DirectSdk:
    """The SDK's ClientSession on mcp-server-time, in an event loop of its own thread."""

    def __init__(self, command: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.command, self.session, self.stop = command, None, None
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result(60)

    async def _open(self) -> None:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client

        ready, self.stop = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            params = StdioServerParameters(
                command=str(self.command), args=["--local-timezone", "UTC"]
            )
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                self.session = session
                ready.set()
                await self.stop.wait()

        self.task = asyncio.ensure_future(hold())
        await ready.wait()

    async def _timed(self, arguments: dict) -> float:
        t0 = time.perf_counter()
        result = await self.session.call_tool("get_current_time", arguments)
        seconds = time.perf_counter() - t0
        assert not result.isError, result
        return seconds

    def call(self, arguments: dict) -> float:
        return asyncio.run_coroutine_threadsafe(self._timed(arguments), self.loop).result(60)

    def close(self) -> None:
        async def end() -> None:
            self.stop.set()
            await self.task

        asyncio.run_coroutine_threadsafe(end(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def bench_calls(calls: int) -> None:
    from seedchat.tools.config import ServerEntry, ToolsConfig
    from seedchat.tools.mcp_tools import McpTools
    from seedchat.tools.servers import ToolHost

    command = time_server()
    with tempfile.TemporaryDirectory() as tmp:
        config = ToolsConfig(path=Path(tmp) / "mcp.json")
        config.add(ServerEntry("time", command=str(command), args=("--local-timezone", "UTC")))
        with ToolHost(config) as host:
            tools = McpTools(host)
            direct = DirectSdk(command)
            try:
                arguments = {"timezone": "Asia/Tokyo"}
                cancel = threading.Event()
                for _ in range(3):  # warm both: the servers' imports, the first round trips
                    tools.call("get_current_time", arguments, cancel)
                    direct.call(arguments)
                ours, sdk = [], []
                for i in range(calls):  # interleaved, alternating which goes first
                    for which in (0, 1) if i % 2 == 0 else (1, 0):
                        if which == 0:
                            t0 = time.perf_counter()
                            outcome = tools.call("get_current_time", arguments, cancel)
                            ours.append(time.perf_counter() - t0)
                            assert not outcome.is_error and "Asia/Tokyo" in outcome.text, outcome
                        else:
                            sdk.append(direct.call(arguments))
            finally:
                direct.close()
    a, b = statistics.median(ours) * 1000, statistics.median(sdk) * 1000
    print(f"\nA call of mcp-server-time's get_current_time, {calls} each, interleaved (medians)")
    print(f"  the SDK's ClientSession, direct (reference)  {b:7.2f} ms")
    print(f"  seedchat: McpTools → ToolHost                {a:7.2f} ms  {a / b:5.2f}x")
    print(
        f"  overhead per call: {a - b:+.2f} ms (goal ≤ 20 ms: {'PASS' if a - b <= 20 else 'FAIL'})"
    )


# -- 4: each tool's prompt cost ------------------------------------------------------------


def bench_prompt_cost() -> None:
    load = LoadOptions(n_gpu_layers=0, context_length=16384, threads=THREADS, kv_cache_disk_gb=0)
    with Engine.load(demo_model(), load) as engine:
        template = engine.template
        base = template.render(QUESTION)
        print("\nThe tools block's prompt cost (demo model's tokenizer; characters)")
        print("| form | tools | block tokens | per tool | each tool after the first | characters |")
        print("| --- | --- | --- | --- | --- | --- |")
        for json_tools in (False, True):
            form = "JSON" if json_tools else "Python signature"
            first = 0
            for label, tools in (
                ("1 (get_current_time)", TWENTY[:1]),
                ("3", TOOLS),
                ("20", TWENTY),
            ):
                text = template.render(QUESTION, tools=tools, json_tools=json_tools)
                count = len(engine.tokenize(text)) - len(engine.tokenize(base))
                n = len(tools)
                first = first or count
                added = f"{(count - first) / (n - 1):.0f}" if n > 1 else "-"
                print(
                    f"| {form} | {label} | {count} | {count / n:.0f} | {added} "
                    f"| {len(text) - len(base)} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "seedchat-bench"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument(
        "--generated", action="store_true", help="2. also on a generated, larger model"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    bench_prompt_cost()
    bench_calls(args.calls)
    demo = bench_sessions(demo_model(), "Demo model", args.rounds)
    report_first_tokens(demo)
    if args.generated:
        model = generated_model(args.workdir)
        report_first_tokens(bench_sessions(model, f"Generated model ({model.name})", args.rounds))


if __name__ == "__main__":
    main()
