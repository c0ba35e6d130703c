"""A sweep: every question of a set at every budget (and sample), one reply at a time.

Each reply is a :class:`~seedchat.chat.session.ChatSession` turn of its own, through the
one answer path (:func:`seedchat.chat.answer.answer`): the same prompt the page makes of
the same question and settings. Given the app's :class:`~seedchat.engine.host.ModelHost`,
each reply takes its turn in the model's queue, so a chat asking meanwhile waits for one
reply, not the sweep, and is told it waits. Each result is saved in the store
(:class:`~seedchat.store.Sweeps`) as it comes; :func:`run_sweep` on a stopped sweep
answers only what is missing, so a Ctrl+C or a crash costs at most the reply under way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from seedchat.budget_lab.questions import Question, QuestionSet
from seedchat.budget_lab.report import budget_order
from seedchat.chat.answer import ChatEngine
from seedchat.chat.session import ChatSession
from seedchat.errors import SeedchatError
from seedchat.events import AnswerDelta, Done, Event, Notice, ThinkingEnd
from seedchat.seed.budget import MAX_BUDGET
from seedchat.settings import ChatSettings
from seedchat.store import SweepRecord, SweepRun, Sweeps

log = logging.getLogger(__name__)

DEFAULT_BUDGETS = (0, 512, 1024, 2048, 4096, 8192, 16384, -1)


class SweepError(SeedchatError):
    """A sweep that cannot start (bad budgets, samples, nothing to resume)."""


@dataclass(frozen=True)
class Progress:
    """Where a sweep is: replies done of the total, the last result, the time left."""

    done: int
    total: int
    last: SweepRun | None = None
    seconds_left: float | None = None
    waiting: str | None = None  # said while the model answers another chat first


ProgressFn = Callable[[Progress], None]


def parse_budgets(text: str) -> list[int]:
    """``0,512,-1`` → [0, 512, -1]; SweepError for anything else."""
    try:
        budgets = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        budgets = []
    bad = [b for b in budgets if b < -1 or b > MAX_BUDGET]
    if not budgets or bad or len(set(budgets)) != len(budgets):
        raise SweepError(
            f"Bad budgets {text!r}.",
            hint=f"Give distinct numbers from 0 to {MAX_BUDGET}, or -1 for unlimited, "
            "separated by commas (e.g. 0,512,1024,-1).",
        )
    return sorted(budgets, key=budget_order)


def start_sweep(
    sweeps: Sweeps,
    questions: QuestionSet,
    model: str | None,
    budgets: Sequence[int],
    samples: int,
    settings: ChatSettings,
) -> SweepRecord:
    """Save a new sweep (nothing answered yet)."""
    if samples < 1:
        raise SweepError("--samples must be 1 or more.", hint="Give a whole number ≥ 1.")
    config = {
        "budgets": list(budgets),
        "samples": samples,
        "enforce": settings.enforcement,
        "settings": settings.to_record(),
    }
    return sweeps.create(questions.name, model, config, [q.to_dict() for q in questions.questions])


def settings_of(record: SweepRecord) -> ChatSettings:
    return ChatSettings.from_record(record.config.get("settings"))


def reply_settings(base: ChatSettings, budget: int, sample: int) -> ChatSettings:
    """One reply's settings: the budget, and sample ``k``'s seed (base seed + k, so a
    sample answers the same again)."""
    return base.replace(budget=budget, seed=(base.seed or 0) + sample)


def pending(record: SweepRecord, runs: Sequence[SweepRun]) -> list[tuple[Question, int, int]]:
    """What is left to answer, budget by budget (so the curve fills from the left)."""
    done = {(r.question_id, r.budget, r.sample) for r in runs}
    questions = [Question(**q) for q in record.questions]
    return [
        (q, budget, sample)
        for budget in record.config["budgets"]
        for q in questions
        for sample in range(record.config["samples"])
        if (q.id, budget, sample) not in done
    ]


def ask(
    engine: ChatEngine,
    question: Question,
    base: ChatSettings,
    budget: int,
    sample: int = 0,
    cancel: threading.Event | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> SweepRun | None:
    """One reply to ``question`` at ``budget`` (a fresh conversation, nothing of it saved
    as a chat), checked; None when it was stopped."""
    session = ChatSession(engine, None, reply_settings(base, budget, sample))
    text: list[str] = []
    cut, done = False, None
    for event in session.turn(question.question, cancel):
        if on_event is not None:
            on_event(event)
        if isinstance(event, AnswerDelta):
            text.append(event.text)
        elif isinstance(event, ThinkingEnd):
            cut = event.forced
        elif isinstance(event, Done):
            done = event
    if done is None or done.finish_reason == "cancelled":
        return None
    reply = "".join(text).strip()
    return SweepRun(
        question_id=question.id,
        budget=budget,
        sample=sample,
        correct=question.is_right(reply),
        thinking_tokens=done.thinking_tokens,
        answer_tokens=max(0, done.generated_tokens - done.thinking_tokens),
        seconds=done.seconds,
        cut=cut,
        answer=reply,
        tokens_per_second=done.tokens_per_second,
    )


def seconds_left(
    runs: Sequence[SweepRun], todo: Sequence[tuple[Question, int, int]]
) -> float | None:
    """The time the replies ``todo`` will take: each at the mean of its budget's replies
    so far (or of the largest budget answered below it: a bigger budget takes no less)."""
    if not runs:
        return None
    by_budget: dict[int, list[float]] = {}
    for run in runs:
        by_budget.setdefault(run.budget, []).append(run.seconds)
    means = {b: sum(v) / len(v) for b, v in by_budget.items()}
    known = sorted(means, key=budget_order)
    total = 0.0
    for _, budget, _ in todo:
        below = [b for b in known if budget_order(b) <= budget_order(budget)]
        total += means[budget] if budget in means else means[below[-1] if below else known[0]]
    return total


def run_sweep(
    engine: ChatEngine,
    sweeps: Sweeps,
    record: SweepRecord,
    cancel: threading.Event | None = None,
    on_progress: ProgressFn | None = None,
) -> str:
    """Answer what is left of ``record`` (all of a new sweep), saving each result as it
    comes; its state at the end: "done", or "stopped" when ``cancel`` stopped it."""
    runs = sweeps.runs(record.id)
    todo = pending(record, runs)
    total = len(runs) + len(todo)
    base = settings_of(record)
    say = on_progress or (lambda progress: None)
    if record.status != "running":
        sweeps.set_status(record.id, "running")
    say(Progress(len(runs), total, seconds_left=seconds_left(runs, todo)))
    status = "stopped"
    try:
        for i, (question, budget, sample) in enumerate(todo):
            if cancel is not None and cancel.is_set():
                return status

            def waiting(event: Event, done: int = len(runs)) -> None:
                if isinstance(event, Notice) and event.kind == "busy":
                    say(Progress(done, total, waiting=event.text))

            run = ask(engine, question, base, budget, sample, cancel, waiting)
            if run is None:
                return status
            sweeps.add_run(record.id, run)
            runs.append(run)
            say(Progress(len(runs), total, run, seconds_left(runs, todo[i + 1 :])))
        status = "done"
        return status
    finally:
        sweeps.set_status(record.id, status)
        log.info("sweep %s %s: %d of %d replies", record.id[:8], status, len(runs), total)


def answer_at_budgets(
    session: ChatSession, budgets: Sequence[int], cancel: threading.Event | None = None
) -> Iterator[Event]:
    """The last question asked again at each of ``budgets``: one answer per budget, each a
    sibling branch of the old answer (:meth:`ChatSession.regenerate`) saved with its budget
    in its settings. The session's settings (and the conversation's) are as before after."""
    before = session.settings
    try:
        for budget in budgets:
            if cancel is not None and cancel.is_set():
                return
            session.settings = before.replace(budget=budget)
            yield from session.regenerate(cancel)
    finally:
        session.settings = before
        thread, store = session.thread, session.store
        if store is not None and thread.conversation_id is not None:
            try:
                store.update_settings(thread.conversation_id, before.to_record())
            except SeedchatError as err:
                log.warning("could not restore the conversation's settings: %s", err)
