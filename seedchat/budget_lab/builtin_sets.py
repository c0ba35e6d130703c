"""The built-in question sets, written by code: fixed seeds, answers computed, never typed.

- ``arithmetic``: multi-step word problems at graded difficulty (one step to five).
- ``puzzles``: counting (letters in a word, items in a list) and ordering (who is tallest
  or comes first, from pairwise clues).
- ``units``: unit conversions (length, mass, time, volume, data), exact answers.
- ``demo``: what the bundled demo model answers right (echo a word, count from 1 to N),
  so a sweep on it shows something; it cannot do sums.

Each of the first three has 60 questions (enough for a curve on a real Seed model).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from decimal import Decimal

from seedchat.budget_lab.questions import Question, QuestionSet, QuestionSetError

PER_SET = 60
NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jia")
ITEMS = ("apples", "books", "coins", "pens", "stamps", "shells", "cards", "marbles")


def _word_problem(rng: random.Random, steps: int) -> tuple[str, int]:
    """A problem of ``steps`` operations on one person's items, and its answer."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    total = rng.randint(5, 40) * (10 if steps >= 4 else 1)
    lines = [f"{name} has {total} {item}."]
    for _ in range(steps - 1 if steps > 1 else 1):
        kind = rng.choice(("buy", "give", "times", "share") if steps >= 3 else ("buy", "give"))
        if kind == "buy":
            n = rng.randint(3, 25)
            total += n
            lines.append(f"{name} buys {n} more.")
        elif kind == "give" and total > 2:
            n = rng.randint(1, total - 1)
            total -= n
            lines.append(f"{name} gives {n} away.")
        elif kind == "times":
            n = rng.randint(2, 4)
            total *= n
            lines.append(f"Then the number of {item} is multiplied by {n}.")
        else:
            n = rng.choice([d for d in (2, 3, 4, 5) if total % d == 0] or [1])
            total //= n
            lines.append(f"{name} keeps only a {_share(n)} of them.")
    lines.append(f"How many {item} does {name} have now? Answer with the number.")
    return " ".join(lines), total


def _share(n: int) -> str:
    return {1: "whole", 2: "half", 3: "third", 4: "quarter", 5: "fifth"}[n]


def arithmetic() -> QuestionSet:
    rng = random.Random(32_001)
    out = []
    for i in range(PER_SET):
        steps = 1 + i * 5 // PER_SET  # graded: 12 questions of each difficulty, 1 to 5
        text, value = _word_problem(rng, steps)
        out.append(Question(f"arith-{i + 1:02d}-d{steps}", text, str(value), "number"))
    return QuestionSet("arithmetic", tuple(out))


WORDS = ("strawberry", "banana", "bookkeeper", "mississippi", "committee", "assessment")
PEOPLE_ORDER = ("taller", "older", "faster")


def _counting(rng: random.Random, i: int) -> Question:
    if i // 2 % 2 == 0:
        word = rng.choice(WORDS)
        letter = rng.choice(sorted(set(word)))
        text = (
            f'How many times does the letter "{letter}" appear in "{word}"? Answer with the number.'
        )
        return Question(f"count-{i + 1:02d}", text, str(word.count(letter)), "number")
    things = [rng.choice(ITEMS[:4]) for _ in range(rng.randint(5, 12))]
    target = rng.choice(sorted(set(things)))
    text = (
        f"Here is a list: {', '.join(things)}. How many times is {target} in it? "
        "Answer with the number."
    )
    return Question(f"count-{i + 1:02d}", text, str(things.count(target)), "number")


def _ordering(rng: random.Random, i: int) -> Question:
    people = rng.sample(NAMES, rng.randint(3, 5))  # people[0] is the most (taller, older…)
    rel = rng.choice(PEOPLE_ORDER)
    clues = [f"{a} is {rel} than {b}." for a, b in itertools.pairwise(people)]
    rng.shuffle(clues)
    most = rng.random() < 0.5
    superlative = {
        "taller": ("tallest", "shortest"),
        "older": ("oldest", "youngest"),
        "faster": ("fastest", "slowest"),
    }[rel][0 if most else 1]
    text = f"{' '.join(clues)} Who is the {superlative}? Answer with the name only."
    return Question(f"order-{i + 1:02d}", text, people[0] if most else people[-1], "exact")


def puzzles() -> QuestionSet:
    rng = random.Random(32_002)
    out = [(_counting if i % 2 == 0 else _ordering)(rng, i) for i in range(PER_SET)]
    return QuestionSet("puzzles", tuple(out))


#: (from, to, factor): value in ``to`` = value in ``from`` × factor
CONVERSIONS = (
    ("kilometres", "metres", Decimal(1000)),
    ("metres", "centimetres", Decimal(100)),
    ("hours", "minutes", Decimal(60)),
    ("minutes", "seconds", Decimal(60)),
    ("days", "hours", Decimal(24)),
    ("kilograms", "grams", Decimal(1000)),
    ("litres", "millilitres", Decimal(1000)),
    ("feet", "inches", Decimal(12)),
    ("yards", "feet", Decimal(3)),
    ("gigabytes", "megabytes", Decimal(1000)),
    ("weeks", "days", Decimal(7)),
    ("pounds", "ounces", Decimal(16)),
)


def units() -> QuestionSet:
    rng = random.Random(32_003)
    out = []
    for i in range(PER_SET):
        src, dst, factor = CONVERSIONS[i % len(CONVERSIONS)]
        value = Decimal(rng.randint(2, 95)) / (2 if i % 3 == 0 else 1)
        backwards = i % 4 == 3  # from the small unit to the large one
        result = value * factor
        if backwards:
            src, dst, value, result = dst, src, result, value
        text = f"How many {dst} are in {_fmt(value)} {src}? Answer with the number."
        out.append(Question(f"units-{i + 1:02d}", text, _fmt(result), "number"))
    return QuestionSet("units", tuple(out))


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


DEMO_WORDS = ("apple", "river", "seed", "green", "cloud", "music", "stone", "light")


def demo() -> QuestionSet:
    """Echo and counting: the demo model's own tasks, which it answers right."""
    out = [Question(f"word-{w}", f"Say the word {w}.", w.capitalize(), "exact") for w in DEMO_WORDS]
    for n in range(3, 10):
        seq = ", ".join(str(k) for k in range(1, n + 1))
        out.append(Question(f"count-{n}", f"Count from 1 to {n}.", seq, "contains"))
    return QuestionSet("demo", tuple(out))


BUILTIN: dict[str, Callable[[], QuestionSet]] = {
    "arithmetic": arithmetic,
    "puzzles": puzzles,
    "units": units,
    "demo": demo,
}


def builtin_set(name: str) -> QuestionSet:
    try:
        return BUILTIN[name]()
    except KeyError:
        raise QuestionSetError(
            f"There is no built-in question set {name!r}.",
            hint=f"Use one of: {', '.join(BUILTIN)}, or a JSONL file.",
        ) from None
