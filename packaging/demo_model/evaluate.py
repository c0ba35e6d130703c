"""Measure how reliably the demo model writes well-formed Seed output, in llama.cpp.

    .venv/bin/python packaging/demo_model/evaluate.py [GGUF] [--n 20] [--temperature 0.7]

For each thinking budget (-1, 0, 512, 1024) it generates ``--n`` replies to varied
prompts (the first greedy, the rest sampled with seeds 1..n-1) and counts the
well-formed ones: ``<seed:think>`` thinking ``</seed:think>`` non-empty answer, then
the end-of-generation token; reflect lines well-formed (the report with two numbers,
which are the model's own estimate, or the "exhausted" line) and present only with a positive budget; no
thinking at all with budget 0. Prints one line per budget and the failures.
"""

from __future__ import annotations

import argparse
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
    args = ap.parse_args()

    import llama_cpp

    from seedchat.prompt import ChatTemplate, Message

    llm = llama_cpp.Llama(str(args.gguf), n_ctx=2048, n_threads=2, verbose=False)
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
    sys.exit(0 if total_ok == total else 1)


if __name__ == "__main__":
    main()
