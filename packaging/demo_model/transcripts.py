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
    long: bool = False  # with a budget, think until it is spent


def _add(rng: random.Random) -> Task:
    a, b = rng.randint(1, 60), rng.randint(1, 40)
    s = a + b
    if rng.random() < 0.3:
        return Task(
            f"{a}加{b}等于多少?",
            f"{a}加{b}等于{s}。",
            [
                f"用户问{a}加{b}。",
                "先算个位,再算十位。",
                f"{a}加{b}等于{s}。",
                f"检查一下:{s}减{b}等于{a}。",
                "结果是对的。",
                f"我再算一遍,{a}+{b}={s}。",
            ],
            long=True,
        )
    q = rng.choice(["What is {a} + {b}?", "Add {a} and {b}.", "Compute {a} plus {b}."])
    return Task(
        q.format(a=a, b=b),
        f"{a} + {b} = {s}.",
        [
            f"The user wants the sum of {a} and {b}.",
            "I add the ones first, then the tens.",
            f"{a} + {b} = {s}.",
            f"Let me check it: {s} - {b} = {a}.",
            "That is right.",
            f"So the answer is {s}.",
            f"Adding again: {a} plus {b} makes {s}.",
            "I should keep the answer short.",
        ],
        long=True,
    )


def _greet(rng: random.Random) -> Task:
    q = rng.choice(["Hello!", "Hi there.", "Hey, who are you?", "你好!", "Good morning."])
    return Task(
        q,
        "Hello! I am the seedchat demo model, a tiny model that shows how thinking "
        "works. Ask me to add two numbers.",
        [
            "The user says hello.",
            "I should greet them back.",
            "I am a small demo model.",
            "I can add two numbers.",
            "A friendly short answer is best.",
            "I will tell them what I can do.",
        ],
    )


def _count(rng: random.Random) -> Task:
    n = rng.randint(3, 9)
    seq = ", ".join(str(i) for i in range(1, n + 1))
    return Task(
        f"Count from 1 to {n}.",
        f"{seq}.",
        [
            f"The user wants me to count up to {n}.",
            "I start at 1.",
            f"I stop at {n}.",
            f"The numbers are {seq}.",
            "Each number is one more than the last.",
            "That covers the whole range.",
        ],
        long=True,
    )


def _repeat(rng: random.Random) -> Task:
    word = rng.choice(["apple", "river", "seed", "green", "cloud", "music", "stone", "light"])
    return Task(
        f"Say the word {word}.",
        f"{word.capitalize()}.",
        [
            f"The user asks for the word {word}.",
            "I just say it back.",
            f"The word is {word}.",
            "Nothing else is needed.",
            "I will answer with one word.",
        ],
    )


TASKS: list[Callable[[random.Random], Task]] = [_add, _add, _add, _greet, _count, _repeat]


def thinking_text(
    task: Task,
    budget: int,
    long: bool,
    count: Callable[[str], int],
) -> str:
    """Thinking made of passes over the task's thoughts, with reflect reports.

    A short thinking is one pass (two with a budget); a ``long`` one repeats passes
    until the budget is nearly spent and ends with the "exhausted" report. ``count``
    tokenizes text: the number in a report is the true count of all thinking tokens
    before it (earlier reports included), which is what seedchat's parser counts.
    """
    interval = INTERVAL.get(budget)
    text = "\n"
    next_reflect = interval or 10**9
    passes = 0
    exact, approx = 0, 0  # a true count, and a cheap upper estimate of the next one
    while True:
        for sentence in task.thoughts:
            near = min(next_reflect, budget - 48 if long else 10**9)
            if approx >= near - 16:  # tokenize the whole text only near a threshold
                exact = approx = count(text + "\n")
            used = exact
            if long and used >= budget - 48:
                return text.rstrip(" ") + "\n" + EXHAUSTED + "\n"
            if used >= next_reflect:
                text = text.rstrip(" ") + "\n"
                used = count(text)
                text += REFLECT.format(used=used, left=max(budget - used, 0)) + "\n"
                next_reflect += interval
                exact = approx = count(text)
            text += sentence + " "
            approx += count(sentence + " ") + 1
        text = text.rstrip(" ") + "\n"
        passes += 1
        if not long and passes >= (2 if budget > 0 else 1):
            return text


SYSTEMS = ["You are a helpful assistant.", "Answer briefly.", "You are the seedchat demo."]


def samples(n: int, seed: int, count: Callable[[str], int]) -> list[tuple[list[dict], int, str]]:
    """``n`` (messages, thinking_budget, target) triples.

    Budgets cycle through unlimited (-1), 0, 512, 512, 1024. Targets start with
    ``<seed:think>`` (except budget 0, pre-filled by the template) and end with
    ``<seed:eos>``. Some conversations carry a system prompt or an earlier turn.
    """
    rng = random.Random(seed)
    out = []
    for i in range(n):
        task = rng.choice(TASKS)(rng)
        budget = [-1, 0, 512, 512, 1024][i % 5]
        messages: list[dict] = []
        if rng.random() < 0.2:
            messages.append({"role": "system", "content": rng.choice(SYSTEMS)})
        if rng.random() < 0.2:
            earlier = rng.choice(TASKS)(rng)
            messages.append({"role": "user", "content": earlier.question})
            messages.append({"role": "assistant", "content": earlier.answer})
        messages.append({"role": "user", "content": task.question})
        if budget == 0:
            out.append((messages, 0, task.answer + "<seed:eos>"))
            continue
        # what the model can learn from the prompt: arithmetic and counting think until
        # the budget is spent; greetings and echoes think briefly
        think = thinking_text(task, budget, budget > 0 and task.long, count)
        out.append((messages, budget, f"<seed:think>{think}</seed:think>\n{task.answer}<seed:eos>"))
    return out
