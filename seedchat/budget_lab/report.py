"""A sweep's results in figures: per budget, accuracy with its Wilson 95 % interval, the
replies the hard budget cut (censored: reported beside the accuracy, not folded into it as
wrong), mean thinking tokens, seconds and decode speed; the recommended budget; OUT.json
and CSV.

``recommended_budget`` is the smallest budget whose accuracy lies within the best
budget's interval (unlimited, -1, counts as the largest), with its time per answer.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from seedchat.store import SweepRecord, SweepRun

Z95 = 1.959963984540054


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``correct`` of ``n`` (0, 0 when ``n`` is 0)."""
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def budget_order(budget: int) -> float:
    """Budgets in order of size, unlimited (-1) last."""
    return math.inf if budget < 0 else budget


@dataclass(frozen=True)
class BudgetStats:
    budget: int
    n: int
    correct: int
    accuracy: float
    ci95: tuple[float, float]
    mean_thinking_tokens: float
    cut_at_budget: int
    mean_seconds: float
    tokens_per_second: float | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci95"] = list(self.ci95)
        return out


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def budget_stats(budget: int, runs: Sequence[SweepRun]) -> BudgetStats:
    n, correct = len(runs), sum(r.correct for r in runs)
    tokens = sum(r.thinking_tokens + r.answer_tokens for r in runs)
    seconds = sum(r.seconds for r in runs)
    return BudgetStats(
        budget=budget,
        n=n,
        correct=correct,
        accuracy=correct / n if n else 0.0,
        ci95=wilson(correct, n),
        mean_thinking_tokens=_mean([r.thinking_tokens for r in runs]),
        cut_at_budget=sum(r.cut for r in runs),
        mean_seconds=_mean([r.seconds for r in runs]),
        tokens_per_second=tokens / seconds if seconds > 0 else None,
    )


def stats(budgets: Sequence[int], runs: Sequence[SweepRun]) -> list[BudgetStats]:
    """One line per budget (in the sweep's order), over the results saved so far."""
    return [budget_stats(b, [r for r in runs if r.budget == b]) for b in budgets]


def recommended(lines: Sequence[BudgetStats]) -> BudgetStats | None:
    """The smallest budget whose accuracy is within the best one's interval."""
    answered = [s for s in lines if s.n]
    if not answered:
        return None
    best = max(answered, key=lambda s: (s.accuracy, -budget_order(s.budget)))
    low = best.ci95[0]
    within = [s for s in answered if s.accuracy >= low]
    return min(within, key=lambda s: budget_order(s.budget))


def report(record: SweepRecord, runs: Sequence[SweepRun]) -> dict[str, Any]:
    """The OUT.json of a sweep (the issue's shape, and a little more)."""
    config = record.config
    lines = stats(config["budgets"], runs)
    best = recommended(lines)
    return {
        "id": record.id,
        "model": record.model,
        "set": record.set_name,
        "samples": config["samples"],
        "enforce": config["enforce"],
        "status": record.status,
        "settings": config.get("settings", {}),
        "budgets": [s.to_dict() for s in lines],
        "runs": [r.to_dict() for r in runs],
        "recommended_budget": best.budget if best else None,
        "recommended_seconds": best.mean_seconds if best else None,
    }


def budgets_csv(lines: Sequence[BudgetStats]) -> str:
    """The table per budget as CSV (the interval as two columns)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in lines:
        writer.writerow(
            [
                s.budget,
                s.n,
                s.correct,
                f"{s.accuracy:.4f}",
                f"{s.ci95[0]:.4f}",
                f"{s.ci95[1]:.4f}",
                f"{s.mean_thinking_tokens:.1f}",
                s.cut_at_budget,
                f"{s.mean_seconds:.3f}",
                "" if s.tokens_per_second is None else f"{s.tokens_per_second:.1f}",
            ]
        )
    return out.getvalue()


CSV_COLUMNS = (
    "budget",
    "n",
    "correct",
    "accuracy",
    "ci95_low",
    "ci95_high",
    "mean_thinking_tokens",
    "cut_at_budget",
    "mean_seconds",
    "tokens_per_second",
)


def budget_label(budget: int) -> str:
    return "unlimited" if budget < 0 else str(budget)
