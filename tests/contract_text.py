"""Long documents made by code for the long-file and retrieval tests: numbered lines of
contract words (the same lines for the same count), and planted sentences to find."""

from __future__ import annotations

import random

WORDS = [
    "the",
    "contract",
    "term",
    "party",
    "shall",
    "notice",
    "payment",
    "within",
    "days",
    "clause",
    "section",
    "agree",
]
PLANTED = "The secret launch code for the orbital greenhouse is AZURE-7."
QUESTION = "What is the secret launch code of the orbital greenhouse?"
PLANTED_AT = 1234  # the planted sentence's line (0-based): line 1235 of the file
SECOND = "The spare key of the lighthouse lies under the blue stone."
FOLLOW_UP = "Where does the spare key of the lighthouse lie?"


def contract_lines(lines: int) -> list[str]:
    """``lines`` numbered lines of twelve contract words each (seeded: always the same)."""
    rng = random.Random(7)
    return [
        f"{i:06d} " + " ".join(rng.choice(WORDS) for _ in range(12)) + ".\n" for i in range(lines)
    ]


def filler(lines: int, planted_at: int | None = PLANTED_AT) -> str:
    """Numbered lines of contract words, the planted sentence on a line of its own."""
    out = contract_lines(lines)
    if planted_at is not None:
        out.insert(planted_at, PLANTED + "\n")
    return "".join(out)


def with_second(text: str, at: int = 2500) -> str:
    """``text`` with a second planted sentence on a line of its own at line ``at``."""
    lines = text.splitlines(keepends=True)
    lines.insert(at, SECOND + "\n")
    return "".join(lines)
