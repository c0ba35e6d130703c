"""Measure how reliably the demo model writes well-formed Seed output, in llama.cpp.

    .venv/bin/python packaging/demo_model/evaluate.py [GGUF] [--n 20] [--temperature 0.7]

For each thinking budget (-1, 0, 512, 1024) it generates ``--n`` replies to varied
prompts (the first greedy, the rest sampled with seeds 1..n-1) and counts the
well-formed ones: ``<seed:think>`` thinking ``</seed:think>`` non-empty answer, then
the end-of-generation token; reflect lines well-formed (the report with two numbers,
which are the model's own estimate, or the "exhausted" line) and present only with a positive budget; no
thinking at all with budget 0. Prints one line per budget and the failures.

Then the tool task (``--tools``, on by default), with the tools of the real
``mcp-server-time`` in the prompt as seedchat's tool loop renders them, the budgets
cycling through ``--budgets``: the rate of a well-formed Seed tool call (as seedchat's
parser reads it) to ``get_current_time`` with the right zone; after a result in the
server's shape, the rate of a well-formed answer that quotes its time (HH:MM); and that
no call is written with the tools on for an old task, nor for a time question without
tools.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "seedchat" / "data" / "demo" / "seedchat-demo-seed-oss.gguf"

PROMPTS = [
    "What is 12 + 30?",
    "Add 7 and 25.",
    "Compute 41 plus 9.",
    "23加15等于多少?",
    "Hello!",
    "你好!",
    "Count from 1 to 6.",
    "Say the word river.",
    "Hey, who are you?",
    "What is 3 + 4?",
]
#: (question, the zone it asks for) for the tool task
TOOL_PROMPTS = [
    ("What time is it in Tokyo?", "Asia/Tokyo"),
    ("What's the time in London?", "Europe/London"),
    ("纽约现在几点?", "America/New_York"),
    ("Tell me the current time in Sydney.", "Australia/Sydney"),
    ("What time is it in Paris?", "Europe/Paris"),
    ("东京现在几点?", "Asia/Tokyo"),
    ("What is the current time in Berlin?", "Europe/Berlin"),
    ("What time is it?", "UTC"),
    ("What time is it in Seoul?", "Asia/Seoul"),
    ("现在北京是几点?", "Asia/Shanghai"),
]
REFLECT = re.compile(
    r"<seed:cot_budget_reflect>(?:I have used (\d+) tokens, and there are (\d+) tokens "
    r"remaining for use\.|(I have exhausted my token budget, and now I will start answering "
    r"the question\.))</seed:cot_budget_reflect>"
)
TAG = re.compile(r"</?seed:[a-z_]+>")


def check(text: str, budget: int, ended: bool) -> str | None:
    """None if ``text`` (a reply, without the eos) is well-formed, else why not."""
    if not ended:
        return "no end-of-generation token"
    if budget == 0:
        if TAG.search(text):
            return "a tag in a budget-0 answer"
        return None if text.strip() else "empty answer"
    m = re.fullmatch(r"<seed:think>(.*?)</seed:think>(.*)", text, re.S)
    if not m:
        return "not <seed:think>…</seed:think>answer"
    thinking, answer = m.groups()
    if not answer.strip():
        return "empty answer"
    if TAG.search(answer):
        return "a tag in the answer"
    reflects = list(REFLECT.finditer(thinking))
    if TAG.search(REFLECT.sub("", thinking)):
        return "a malformed reflect line or stray tag in the thinking"
    if budget < 0 and reflects:
        return "reflect lines with no budget"
    if not thinking.strip():
        return "empty thinking"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gguf", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--budgets", default="-1,0,512,1024")
    ap.add_argument(
        "--tools", action=argparse.BooleanOptionalAction, default=True, help="the tool task"
    )
    args = ap.parse_args()

    import llama_cpp

    from seedchat.seed.template import ChatTemplate, Message

    llm = llama_cpp.Llama(str(args.gguf), n_ctx=4096, n_threads=2, verbose=False)
    template = ChatTemplate(llm.metadata["tokenizer.chat_template"])
    eos = llm.token_eos()
    total_ok = total = 0
    for budget in (int(b) for b in args.budgets.split(",")):
        ok, failures, lengths, reflects, errors = 0, [], [], [], []
        for i in range(args.n):
            prompt = template.render([Message("user", PROMPTS[i % len(PROMPTS)])], budget)
            tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
            out: list[int] = []
            ended = False
            llm.reset()
            llm.set_seed(i)
            temp = 0.0 if i == 0 else args.temperature
            for tok in llm.generate(tokens, temp=temp, top_p=args.top_p, top_k=0, reset=True):
                if tok == eos:
                    ended = True
                    break
                out.append(tok)
                if len(out) >= 1400:
                    break
            text = llm.detokenize(out, special=True).decode("utf-8", "replace")
            why = check(text, budget, ended)
            if "</seed:think>" in text:
                lengths.append(
                    len(
                        llm.tokenize(
                            text.split("</seed:think>")[0].encode(), add_bos=False, special=True
                        )
                    )
                )
            reflects.append(text.count("<seed:cot_budget_reflect>"))
            for r in REFLECT.finditer(text):
                if r.group(1) is not None:  # the model's count against the true count
                    before = text[len("<seed:think>") : r.start()]
                    true = len(llm.tokenize(before.encode(), add_bos=False, special=True))
                    errors.append(abs(int(r.group(1)) - true))
            if why is None:
                ok += 1
            else:
                failures.append(f"  [{i}] {why}: {text[:160]!r}…{text[-120:]!r}")
        total_ok += ok
        total += args.n
        span = f"{min(lengths)}–{max(lengths)}" if lengths else "-"
        print(
            f"budget {budget:5d}: {ok}/{args.n} well-formed; thinking tokens {span}; "
            f"reflect lines per reply {min(reflects)}–{max(reflects)}"
            + (
                f"; reported count off by {sum(errors) / len(errors):.1f} tokens on average "
                f"(max {max(errors)})"
                if errors
                else ""
            )
        )
        print("\n".join(failures[:5]), end="\n" if failures else "")
    print(f"total: {total_ok}/{total} well-formed")
    tools_ok = True
    if args.tools:
        budgets = [int(b) for b in args.budgets.split(",")]
        tools_ok = evaluate_tools(llm, template, args, budgets)
    sys.exit(0 if total_ok == total and tools_ok else 1)


def generate(llm, prompt: str, i: int, args) -> tuple[str, bool]:
    """A reply to ``prompt`` (greedy for ``i`` 0, else sampled with seed ``i``): its text
    without the eos, and whether the eos ended it."""
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    out: list[int] = []
    llm.reset()
    llm.set_seed(i)
    temp = 0.0 if i == 0 else args.temperature
    for tok in llm.generate(tokens, temp=temp, top_p=args.top_p, top_k=0, reset=True):
        if tok == llm.token_eos():
            return llm.detokenize(out, special=True).decode("utf-8", "replace"), True
        out.append(tok)
        if len(out) >= 1400:
            break
    return llm.detokenize(out, special=True).decode("utf-8", "replace"), False


def calls_in(text: str) -> list:
    """The tool calls seedchat's parser reads in a reply (outside its thinking)."""
    from seedchat.events import ToolCall
    from seedchat.seed.thinking import ThinkingParser

    parser = ThinkingParser()
    events = parser.feed(text) + parser.finish()
    return [e for e in events if isinstance(e, ToolCall)]


def evaluate_tools(llm, template, args, budgets: list[int]) -> bool:
    """The tool task (module doc); prints its rates, returns whether all passed."""
    import random

    from seedchat.seed.template import Message

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import build
    import transcripts

    tools = transcripts.TIME_TOOLS
    rng = random.Random(7)
    called = answered = quiet = quiet_tools = 0
    failures: list[str] = []
    for i in range(args.n):
        budget = budgets[i % len(budgets)]
        question, zone = TOOL_PROMPTS[i % len(TOOL_PROMPTS)]
        asked = [Message("user", question)]
        text, ended = generate(llm, template.render(asked, budget, tools), i, args)
        calls = calls_in(text)
        good = [c for c in calls if c.name == "get_current_time"]
        shape = check(
            re.sub(r"<seed:tool_call>.*?</seed:tool_call>", "[call]", text, flags=re.S),
            budget,
            ended,
        )
        if shape is None and len(calls) == 1 and good and good[0].arguments == {"timezone": zone}:
            called += 1
        else:
            failures.append(f"  call [{i}] budget {budget} {question!r}: {text[-200:]!r}")
        # the answer, after the right call and a result (whatever the model called)
        result = transcripts.time_result(zone, rng)
        stamp = json.loads(result)["datetime"]
        call = {"name": "get_current_time", "arguments": {"timezone": zone}}
        # as the tool loop prompts it: on from the calling reply as the model wrote it
        then = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [call], "as_written": text},
            {"role": "tool", "content": result},
        ]
        text, ended = generate(llm, build.render(template.source, then, budget, tools), i, args)
        reply = text.split("</seed:think>")[-1]
        why = check(text, budget, ended)
        if why is None and stamp[11:16] in reply and not calls_in(text):
            answered += 1
        else:
            failures.append(f"  answer [{i}] {why or stamp[11:16]}: {text[-200:]!r}")
        # no call: an old task with the tools on; the time question without tools
        old = PROMPTS[i % len(PROMPTS)]
        text, ended = generate(llm, template.render([Message("user", old)], budget, tools), i, args)
        if check(text, budget, ended) is None and not calls_in(text):
            quiet_tools += 1
        else:
            failures.append(f"  tools on, {old!r} [{i}]: {text[-200:]!r}")
        text, ended = generate(llm, template.render(asked, budget), i, args)
        if check(text, budget, ended) is None and not calls_in(text):
            quiet += 1
        else:
            failures.append(f"  no tools, {question!r} [{i}]: {text[-200:]!r}")
    n = args.n
    print(f"tool call: {called}/{n} well-formed get_current_time calls with the right zone")
    print(f"tool answer: {answered}/{n} quote the result's time (HH:MM)")
    print(f"no call: {quiet_tools}/{n} old tasks with the tools on, {quiet}/{n} without tools")
    print("\n".join(failures[:8]), end="\n" if failures else "")
    return called == answered == quiet == quiet_tools == n


if __name__ == "__main__":
    main()
