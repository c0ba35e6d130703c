"""Synthetic Seed-style conversations for the demo model, generated from a fixed seed.

Each sample is (messages, thinking_budget, target): the prompt is the chat template
rendered with ``add_generation_prompt``; the target is what the model should write:
``<seed:think>`` thinking with reflect reports at the template's interval (true token
counts), ``</seed:think>``, the answer, ``<seed:eos>``. Budget 0 targets are the answer
alone (the template pre-fills a closed think block).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

REFLECT = (
    "<seed:cot_budget_reflect>I have used {used} tokens, and there are {left} tokens "
    "remaining for use.</seed:cot_budget_reflect>"
)
EXHAUSTED = (
    "<seed:cot_budget_reflect>I have exhausted my token budget, and now I will start "
    "answering the question.</seed:cot_budget_reflect>"
)
INTERVAL = {512: 128, 1024: 256}


@dataclass
class Task:
    question: str
    answer: str
    thoughts: list[str]  # sentences the thinking is made of


def _add(rng: random.Random) -> Task:
    a, b = rng.randint(1, 60), rng.randint(1, 40)
    s = a + b
    if rng.random() < 0.3:
        return Task(
            f"{a}加{b}等于多少?",
            f"{a}加{b}等于{s}。",
            [f"用户问{a}加{b}。", "先算个位,再算十位。", f"{a}加{b}等于{s}。",
             f"检查一下:{s}减{b}等于{a}。", "结果是对的。", f"我再算一遍,{a}+{b}={s}。"],
        )  # fmt: skip
    q = rng.choice(["What is {a} + {b}?", "Add {a} and {b}.", "Compute {a} plus {b}."])
    return Task(
        q.format(a=a, b=b),
        f"{a} + {b} = {s}.",
        [f"The user wants the sum of {a} and {b}.", "I add the ones first, then the tens.",
         f"{a} + {b} = {s}.", f"Let me check it: {s} - {b} = {a}.", "That is right.",
         f"So the answer is {s}.", f"Adding again: {a} plus {b} makes {s}.",
         "I should keep the answer short."],
    )  # fmt: skip


def _greet(rng: random.Random) -> Task:
    q = rng.choice(["Hello!", "Hi there.", "Hey, who are you?", "你好!", "Good morning."])
    return Task(
        q,
        "Hello! I am the seedchat demo model, a tiny model that shows how thinking "
        "works. Ask me to add two numbers.",
        ["The user says hello.", "I should greet them back.", "I am a small demo model.",
         "I can add two numbers.", "A friendly short answer is best.",
         "I will tell them what I can do."],
    )  # fmt: skip


def _count(rng: random.Random) -> Task:
    n = rng.randint(3, 9)
    seq = ", ".join(str(i) for i in range(1, n + 1))
    return Task(
        f"Count from 1 to {n}.",
        f"{seq}.",
        [f"The user wants me to count up to {n}.", "I start at 1.", f"I stop at {n}.",
         f"The numbers are {seq}.", "Each number is one more than the last.",
         "That covers the whole range."],
    )  # fmt: skip


def _repeat(rng: random.Random) -> Task:
    word = rng.choice(["apple", "river", "seed", "green", "cloud", "music", "stone", "light"])
    return Task(
        f"Say the word {word}.",
        f"{word.capitalize()}.",
        [f"The user asks for the word {word}.", "I just say it back.",
         f"The word is {word}.", "Nothing else is needed.", "I will answer with one word."],
    )  # fmt: skip


TASKS: list[Callable[[random.Random], Task]] = [_add, _add, _add, _greet, _count, _repeat]


def thinking_text(
    task: Task,
    rng: random.Random,
    budget: int,
    target_len: int,
    count: Callable[[str], int],
) -> str:
    """Thinking of about ``target_len`` tokens with reflect reports at true counts."""
    interval = INTERVAL.get(budget)
    parts: list[str] = []
    used = 0
    next_reflect = interval or 10**9
    first = True
    while True:
        if budget > 0 and used >= budget - 40:
            parts.append("\n" + EXHAUSTED + "\n")
            break
        if used >= target_len:
            break
        sentence = task.thoughts[0] if first else rng.choice(task.thoughts)
        first = False
        piece = sentence + (" " if rng.random() < 0.7 else "\n")
        parts.append(piece)
        used += count(piece)
        if used >= next_reflect:
            line = "\n" + REFLECT.format(used=used, left=max(budget - used, 0)) + "\n"
            parts.append(line)
            used += count(line)
            next_reflect += interval
    return "".join(parts).strip(" ")


def samples(n: int, seed: int, count: Callable[[str], int]) -> list[tuple[list[dict], int, str]]:
    """``n`` (messages, thinking_budget, target) triples."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        task = rng.choice(TASKS)(rng)
        budget = [-1, 0, 512, 512, 1024][i % 5]
        messages = [{"role": "user", "content": task.question}]
        if budget == 0:
            out.append((messages, 0, task.answer + "<seed:eos>"))
            continue
        if budget == 512:
            target = rng.choice([rng.randint(150, 300), rng.randint(300, 470), 600])
        elif budget == 1024:
            target = rng.randint(270, 560)
        else:
            target = rng.randint(40, 200)
        think = thinking_text(task, rng, budget, target, count)
        out.append(
            (messages, budget, f"<seed:think>\n{think}</seed:think>\n\n{task.answer}<seed:eos>")
        )
    return out
