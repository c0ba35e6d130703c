"""The thinking budget: what values mean, how often the model reflects, when to cut.

- ``-1`` (:data:`UNLIMITED`): think as long as the model wants; no budget instructions.
- ``0``: answer directly (the template pre-fills a closed think block).
- positive: a token budget. Seed-OSS was trained on multiples of 512 (512 … 16K); other
  values are accepted with a notice, and below 512 the authors recommend 0.

Enforcement: ``soft`` leaves the budget to the model's own reflect reports; ``hard`` (the
default when a budget is set) makes the engine cut thinking when the true count reaches
the budget, by injecting :func:`seedchat.seed.tags.forced_end_text` and continuing to
the answer. This module is policy only; the format's text is in :mod:`seedchat.seed.tags`.
"""

from __future__ import annotations

from typing import Literal, get_args

from seedchat.errors import SettingsError
from seedchat.events import Notice

UNLIMITED = -1
#: The largest budget accepted anywhere (settings, CLI, API). The UI's slider stops at
#: the largest budget the model was trained on (16384); larger ones are typed.
MAX_BUDGET = 131_072
RECOMMENDED = (0, 512, 1024, 2048, 4096, 8192, 16384)

Enforcement = Literal["hard", "soft"]
#: Every enforcement, the default first (the settings file's, the page's and the CLI's choices).
ENFORCEMENTS: tuple[Enforcement, ...] = get_args(Enforcement)

# Reflect interval by budget, from the Seed-OSS chat template (docs/seed-format.md).
_INTERVALS = ((512, 128), (1024, 256), (2048, 512), (4096, 512), (8192, 1024), (16384, 1024))


def reflect_interval(budget: int) -> int | None:
    """How often (in tokens) the model reports its usage for ``budget``; None when it does not.

    Budgets between the trained values use the interval of the next trained value up;
    budgets above 16K use 1024.
    """
    if budget <= 0:
        return None
    for limit, interval in _INTERVALS:
        if budget <= limit:
            return interval
    return 1024


def normalize_budget(budget: int) -> tuple[int, list[Notice]]:
    """Check a budget; return it with notices for values the model was not trained on."""
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise SettingsError(
            f"The thinking budget must be a whole number, not {budget!r}.",
            hint="Use -1 (unlimited), 0 (answer directly) or a number of tokens such as 512.",
        )
    if budget < UNLIMITED or budget > MAX_BUDGET:
        raise SettingsError(
            f"The thinking budget {budget} is out of range: it must be -1 (unlimited), "
            f"0 (answer directly) or 1 to {MAX_BUDGET} tokens.",
            hint="Multiples of 512 (512, 1024, 2048, 4096, 8192, 16384) work best.",
        )
    notices: list[Notice] = []
    if 0 < budget < 512:
        notices.append(
            Notice(
                f"A thinking budget of {budget} is below 512; Seed's authors recommend 0 "
                "(answer directly) for budgets this small.",
                kind="budget",
            )
        )
    elif budget > 0 and budget % 512:
        notices.append(
            Notice(
                f"A thinking budget of {budget} is not a multiple of 512; the model was "
                "trained on multiples of 512 and may keep it less precisely.",
                kind="budget",
            )
        )
    return budget, notices


def default_enforcement(budget: int) -> Enforcement:
    """``hard`` when a positive budget is set, else ``soft`` (nothing to enforce)."""
    return "hard" if budget > 0 else "soft"


def is_hard(budget: int, enforcement: Enforcement) -> bool:
    """Whether thinking is cut at ``budget`` (hard mode and a budget to reach)."""
    return enforcement == "hard" and budget > 0


def should_force_end(budget: int, enforcement: Enforcement, thinking_tokens: int) -> bool:
    """Whether the engine must cut thinking now (hard mode, budget reached). One reply's
    engine asks :meth:`seedchat.engine.reply_budget.ReplyBudget.must_cut`, which applies this."""
    return is_hard(budget, enforcement) and thinking_tokens >= budget
