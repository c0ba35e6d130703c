"""Question sets and their checkers.

A set is a list of :class:`Question`: a question, its expected answer and how a reply is
checked (``check``):

- ``number``: the last number in the reply's *answer* (never its thinking) equals the
  expected one; commas between thousands, units after it, a sign and decimals are read
  (``1,234.5 km`` is 1234.5; ``-3`` is -3).
- ``exact``: the answer, trimmed and without a final full stop, is the expected text
  (case ignored).
- ``contains``: the expected text is in the answer (case ignored).
- ``regex``: the expected pattern matches somewhere in the answer (Python's ``re``).
- ``choice``: the last standalone choice letter (``A``–``J``, or ``(B)``) in the answer is
  the expected one.

A JSONL file holds one object a line: ``{"question", "answer", "check"?, "id"?}``; without
``check`` a numeric answer is checked as ``number``, any other as ``contains``.
:func:`parse_jsonl` names the line of every mistake.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from seedchat.errors import SeedchatError

CHECKS = ("number", "exact", "contains", "regex", "choice")
#: a number as people write it: a sign, thousands with commas, decimals
NUMBER = re.compile(r"(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
CHOICE = re.compile(r"(?<![A-Za-z])\(?([A-J])\)?(?![A-Za-z])")


class QuestionSetError(SeedchatError):
    """A question set that cannot be read (the hint says what to fix)."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    check: str = "contains"

    def is_right(self, reply: str) -> bool:
        """Whether ``reply`` (the answer only, never the thinking) is right."""
        return CHECKERS[self.check](reply, self.answer)

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "check": self.check,
        }


@dataclass(frozen=True)
class QuestionSet:
    name: str
    questions: tuple[Question, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "questions": [q.to_dict() for q in self.questions]}

    @classmethod
    def from_dict(cls, data: dict) -> QuestionSet:
        return cls(data["name"], tuple(Question(**q) for q in data["questions"]))


def last_number(text: str) -> Decimal | None:
    """The last number written in ``text`` (commas between thousands, a sign, decimals)."""
    found = NUMBER.findall(text)
    if not found:
        return None
    try:
        return Decimal(found[-1].replace(",", "").replace("−", "-"))
    except InvalidOperation:
        return None


def check_number(reply: str, expected: str) -> bool:
    got, want = last_number(reply), last_number(expected)
    return got is not None and want is not None and got == want


def _plain(text: str) -> str:
    return " ".join(text.strip().rstrip(".。!").split()).casefold()


def check_exact(reply: str, expected: str) -> bool:
    return _plain(reply) == _plain(expected)


def check_contains(reply: str, expected: str) -> bool:
    return " ".join(expected.split()).casefold() in " ".join(reply.split()).casefold()


def check_regex(reply: str, expected: str) -> bool:
    return re.search(expected, reply) is not None


def check_choice(reply: str, expected: str) -> bool:
    found = CHOICE.findall(reply)
    return bool(found) and found[-1] == expected.strip().strip("()").upper()


CHECKERS: dict[str, Callable[[str, str], bool]] = {
    "number": check_number,
    "exact": check_exact,
    "contains": check_contains,
    "regex": check_regex,
    "choice": check_choice,
}


def question_id(text: str) -> str:
    """A question's id when its line gives none: from its text (stable across runs)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_question(data: object, where: str) -> Question:
    """One question from a JSON object; QuestionSetError naming ``where`` otherwise."""
    if not isinstance(data, dict):
        raise QuestionSetError(f"{where}: not a JSON object.", hint=_SHAPE)
    text, expected = data.get("question"), data.get("answer")
    if not isinstance(text, str) or not text.strip():
        raise QuestionSetError(f'{where}: no "question" text.', hint=_SHAPE)
    if isinstance(expected, bool) or not isinstance(expected, (str, int, float)):
        raise QuestionSetError(f'{where}: "answer" must be a text or a number.', hint=_SHAPE)
    expected = str(expected)
    numeric = last_number(expected) is not None and NUMBER.fullmatch(expected.strip())
    check = data.get("check") or ("number" if numeric else "contains")
    if check not in CHECKS:
        raise QuestionSetError(
            f'{where}: unknown check "{check}".', hint=f"Use one of: {', '.join(CHECKS)}."
        )
    if check == "regex":
        try:
            re.compile(expected)
        except re.error as exc:
            raise QuestionSetError(f"{where}: a bad regex ({exc}).", hint=_SHAPE) from exc
    if check == "number" and last_number(expected) is None:
        raise QuestionSetError(f'{where}: check "number" but no number in the answer.', hint=_SHAPE)
    qid = str(data.get("id") or question_id(text))
    return Question(qid, text, expected, check)


_SHAPE = (
    'Write one JSON object a line: {"question": "...", "answer": "..." or a number, '
    '"check": "number" | "exact" | "contains" | "regex" | "choice"} (check optional).'
)


def parse_jsonl(lines: Iterable[str], name: str) -> QuestionSet:
    """A set from JSONL ``lines``; QuestionSetError naming the line of a mistake."""
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionSetError(f"{where}: not JSON ({exc.msg}).", hint=_SHAPE) from exc
        q = make_question(data, where)
        if q.id in seen:
            raise QuestionSetError(
                f"{where}: the question id {q.id} comes twice.", hint="Give each its own id."
            )
        seen.add(q.id)
        questions.append(q)
    if not questions:
        raise QuestionSetError(f"{name} has no questions.", hint=_SHAPE)
    return QuestionSet(name, tuple(questions))


def read_jsonl(path: Path) -> QuestionSet:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(
            f"Cannot read {path}: {exc}.", hint="Give a JSONL file in UTF-8 or a built-in set."
        ) from exc
    return parse_jsonl(text.splitlines(), path.name)


def from_rows(rows: Sequence[dict], name: str) -> QuestionSet:
    """A set from already parsed objects (a dataset's rows after the column mapping)."""
    return parse_jsonl((json.dumps(r) for r in rows), name)
