"""The Budget tab's view of a sweep (no gradio): three plots against the thinking budget, as SVG (no gradio, nothing
fetched: the page draws them itself): accuracy with its 95 % interval, seconds per
answer, thinking tokens; the table and the recommendation.

The budget axis is logarithmic (each doubling one step); 0 sits one step left of the
smallest budget and "unlimited" one step right of the largest. Official curves (the model
card's) are drawn lighter and dashed, each labelled with its source.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from seedchat.budget_lab.official import SOURCE, official_points
from seedchat.budget_lab.report import BudgetStats, budget_label, recommended

W, H = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 34, 28, 46
LEGEND_ROW = 14
COLOURS = ("#2563eb", "#9333ea", "#0d9488", "#ea580c")
OFFICIAL_COLOURS = ("#f59e0b", "#ef4444", "#10b981")


@dataclass(frozen=True)
class Point:
    budget: int
    y: float
    lo: float | None = None  # the interval, when there is one
    hi: float | None = None


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[Point, ...]
    official: bool = False  # the model card's: lighter, dashed


@dataclass
class Axis:
    """Where each budget sits on the x axis (log2 steps)."""

    budgets: list[int]
    slots: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        finite = sorted(b for b in set(self.budgets) if b > 0)
        first = math.log2(finite[0]) if finite else 9.0
        for b in finite:
            self.slots[b] = math.log2(b)
        if 0 in self.budgets:
            self.slots[0] = first - 1
        if -1 in self.budgets:
            self.slots[-1] = (math.log2(finite[-1]) if finite else first) + 1
        self.low = min(self.slots.values(), default=0.0)
        self.high = max(self.slots.values(), default=1.0)

    def x(self, budget: int) -> float:
        span = (self.high - self.low) or 1.0
        return LEFT + (self.slots[budget] - self.low) / span * (W - LEFT - RIGHT)


def budget_tick(budget: int) -> str:
    if budget < 0:
        return "unlimited"
    return f"{budget // 1024}K" if budget >= 1024 and budget % 1024 == 0 else str(budget)


def _y(value: float, top: float) -> float:
    return TOP + (1 - value / top) * (H - TOP - BOTTOM)


def _nice_top(values: Sequence[float]) -> float:
    top = max(values, default=0.0)
    if top <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(top))
    return math.ceil(top / step * 1.1) * step


def _frame(title: str, axis: Axis, top: float, percent: bool) -> list[str]:
    out = [
        f'<text x="{W / 2}" y="16" text-anchor="middle" class="title">{html.escape(title)}</text>'
    ]
    for i in range(5):
        value = top * i / 4
        y = _y(value, top)
        text = f"{value:.0%}" if percent else f"{value:g}"
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    for b in axis.slots:
        x = axis.x(b)
        out.append(
            f'<text x="{x:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle" class="tick">'
            f"{budget_tick(b)}</text>"
        )
    out.append(
        f'<text x="{W / 2}" y="{H - BOTTOM + 30}" text-anchor="middle">thinking budget '
        "(log scale)</text>"
    )
    return out


def _series(s: Series, axis: Axis, top: float, colour: str) -> list[str]:
    points = [p for p in s.points if p.budget in axis.slots]
    coords = " ".join(f"{axis.x(p.budget):.1f},{_y(p.y, top):.1f}" for p in points)
    style = 'stroke-dasharray="5 4" opacity="0.45"' if s.official else ""
    kind = "official" if s.official else "mine"
    out = [f'<g class="series {kind}" data-label="{html.escape(s.label)}">']
    out.append(
        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2" {style}/>'
    )
    for p in points:
        x, y = axis.x(p.budget), _y(p.y, top)
        if p.lo is not None and p.hi is not None:
            y1, y2 = _y(p.lo, top), _y(p.hi, top)
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" stroke="{colour}" class="interval"/>'
            )
        radius = 2.5 if s.official else 3.5
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}" {style}/>')
    out.append("</g>")
    return out


def _legend(series: Sequence[Series], colours: Sequence[str]) -> list[str]:
    out = []
    for i, (s, colour) in enumerate(zip(series, colours, strict=True)):
        y = H + 4 + i * LEGEND_ROW  # under the plot, one row a series
        dash = ' stroke-dasharray="5 4" opacity="0.6"' if s.official else ""
        out.append(
            f'<line x1="{LEFT + 6}" x2="{LEFT + 22}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        out.append(
            f'<text x="{LEFT + 26}" y="{y + 4}" class="legend">{html.escape(s.label)}</text>'
        )
    return out


def plot_svg(title: str, series: Sequence[Series], percent: bool = False, elem_id: str = "") -> str:
    """One plot against the budget (an ``<svg>`` element)."""
    budgets = [p.budget for s in series for p in s.points]
    axis = Axis(budgets)
    values = [v for s in series for p in s.points for v in (p.y, p.hi) if v is not None]
    top = 1.0 if percent else _nice_top(values)
    mine = [s for s in series if not s.official]
    official = [s for s in series if s.official]
    colours = [*COLOURS[: len(mine)], *OFFICIAL_COLOURS[: len(official)]]
    ordered = [*mine, *official]
    body = _frame(title, axis, top, percent)
    for s, colour in zip(ordered, colours, strict=True):
        body += _series(s, axis, top, colour)
    body += _legend(ordered, colours)
    return (
        f'<svg id="{elem_id}" class="budget-plot" viewBox="0 0 {W} {H + LEGEND_ROW * len(ordered)}" '
        'width="100%" '
        f'role="img" aria-label="{html.escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        "<style>text{font:11px sans-serif;fill:currentColor}.title{font-weight:600;font-size:13px}"
        ".grid{stroke:#8884;stroke-width:1}.legend{font-size:10px}</style>"
        + "".join(body)
        + "</svg>"
    )


# -- a sweep's view: the three plots, the table, the recommendation -------------------


def accuracy_series(lines: Sequence[BudgetStats], label: str = "your questions") -> Series:
    points = tuple(Point(s.budget, s.accuracy, *s.ci95) for s in lines if s.n)
    return Series(label, points)


def official_series() -> list[Series]:
    return [
        Series(f"{name} ({SOURCE})", tuple(Point(b, v) for b, v in points), official=True)
        for name, points in official_points().items()
    ]


def plots(lines: Sequence[BudgetStats], official: bool) -> tuple[str, str, str]:
    """The three plots (SVG): accuracy with its interval (and the model card's curves when
    ``official``), seconds per answer, thinking tokens."""
    answered = [s for s in lines if s.n]
    accuracy = [accuracy_series(lines), *(official_series() if official else [])]
    seconds = [
        Series("seconds per answer", tuple(Point(s.budget, s.mean_seconds) for s in answered))
    ]
    thinking = [
        Series(
            "mean thinking tokens", tuple(Point(s.budget, s.mean_thinking_tokens) for s in answered)
        )
    ]
    return (
        plot_svg("Accuracy (95 % interval)", accuracy, percent=True, elem_id="plot-accuracy"),
        plot_svg("Seconds per answer", seconds, elem_id="plot-seconds"),
        plot_svg("Thinking tokens", thinking, elem_id="plot-thinking"),
    )


def table_html(lines: Sequence[BudgetStats]) -> str:
    head = (
        "budget",
        "answered",
        "accuracy",
        "95 % interval",
        "cut at budget",
        "thinking",
        "s/answer",
        "tok/s",
    )
    rows = [
        (
            budget_label(s.budget),
            str(s.n),
            f"{s.accuracy:.0%}" if s.n else "–",
            f"{s.ci95[0]:.0%}–{s.ci95[1]:.0%}" if s.n else "–",
            str(s.cut_at_budget),
            f"{s.mean_thinking_tokens:.0f}",
            f"{s.mean_seconds:.2f}",
            f"{s.tokens_per_second:.0f}" if s.tokens_per_second else "–",
        )
        for s in lines
    ]
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    header = "".join(f"<th>{h}</th>" for h in head)
    return f'<table class="budget-table"><thead><tr>{header}</tr></thead><tbody>{cells}</tbody></table>'


def recommendation_text(lines: Sequence[BudgetStats]) -> str:
    best = recommended(lines)
    if best is None:
        return ""
    return (
        f"**Recommended budget: {budget_label(best.budget)}** — {best.accuracy:.0%} right, "
        f"{best.mean_seconds:.1f} s an answer: the smallest budget whose accuracy is within "
        "the best budget's 95 % interval. Replies the hard budget cut still answer and are "
        "checked; the table shows how many were cut (censored, not silently wrong)."
    )
