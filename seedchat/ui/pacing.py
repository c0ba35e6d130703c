"""When the page draws a streamed reply: at a frame rate, not at the model's token rate.

The model writes tokens far faster than a page needs to show them (over a thousand a
second with a small model), and every update costs the page server (postprocessing, the
diff) and the browser (Markdown, layout, paint) work that, on a small machine, takes cores
from the model itself: llama.cpp's threads wait on each other, so a busy neighbour slows
decoding far more than its own share (docs/benchmarks.md, "The page at the engine's
speed"). :class:`UpdatePacer` sends an update at most every :data:`MIN_INTERVAL` seconds
while the model thinks and every :data:`ANSWER_INTERVAL` while it writes its answer (no
counters to keep live there: four updates a second cost the browser a fifth less than five,
and SmolLM2's page ran 5 % faster for it), longer when updates turn out costly (a long
conversation to diff), never longer than :data:`MAX_INTERVAL` (the thinking title's
counters change at least four times a second), and at once for the reply's first text and
when the turn's shape changes (thinking starts or ends, a tool runs, the end), so the final
state is always drawn exactly. A reflect line goes with the next paced update (with a small
model they came every 0.2 s, each one an update more; the counters change four to five
times a second anyway). Between updates the page's reader rests (:meth:`UpdatePacer.rest`,
:meth:`seedchat.chat.pump.EventPump.batches`) rather than waking for every token, which took
the interpreter from the model's thread a thousand times a second with a small model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from seedchat.events import (
    TEXT,
    AnswerDelta,
    Done,
    Event,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolRun,
)

#: The shortest time between two streamed updates while the model thinks (seconds): five a
#: second at most. Each update makes the browser draw the growing message again (Markdown,
#: layout, paint: about 30-80 ms of a core here); at ten a second Chromium took 0.4-0.5 of a
#: core from the model, at five 0.25 (docs/benchmarks.md, "The page at the engine's speed").
MIN_INTERVAL = 0.2
#: The longest (seconds): the live counters change at least four times a second.
MAX_INTERVAL = 0.25
#: The shortest while the answer is written (seconds): four a second at most. Same run,
#: 12 rounds, SmolLM2's page at 0.977× the terminal against 0.925× at five a second
#: (docs/benchmarks.md, "Four updates a second for the answer").
ANSWER_INTERVAL = 0.25
#: An update that took this share of the interval or more makes the interval longer.
COST_SHARE = 0.25

#: Events that change the turn's shape: drawn at once.
STRUCTURAL = (ThinkingStart, ThinkingEnd, ToolRun, Done)
#: Events of the thinking (its counters are live) and of the answer.
THINKING, ANSWERING = (ThinkingStart, ThinkingDelta, Reflect), (ThinkingEnd, AnswerDelta)


class UpdatePacer:
    """Decides when a streamed reply's next update goes to the page."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._last = float("-inf")  # when the last update went out
        self._undrawn = False  # events applied since then
        self._texted = False  # some of the reply's text was drawn
        self._thinking = False  # the model is thinking: its counters are live
        self._stretch = 0.0  # the interval the last update's cost asks for

    @property
    def interval(self) -> float:
        """The time between two updates now (seconds)."""
        shortest = MIN_INTERVAL if self._thinking else ANSWER_INTERVAL
        return min(max(MAX_INTERVAL, shortest), max(shortest, self._stretch))

    def due(self, events: Sequence[Event]) -> bool:
        """Whether to draw now, after ``events`` (empty: nothing new came meanwhile)."""
        self._undrawn = self._undrawn or bool(events)
        for event in events:
            if isinstance(event, THINKING + ANSWERING):
                self._thinking = isinstance(event, THINKING)
        if any(isinstance(event, STRUCTURAL) for event in events):
            return True
        if not self._texted and any(isinstance(event, TEXT) for event in events):
            self._texted = True
            return True
        return self._undrawn and self._clock() - self._last >= self.interval

    def rest(self) -> float:
        """How long the reader may rest before an update can be due: what comes meanwhile
        joins it (0 until the reply's first text is drawn, which goes at once)."""
        if not self._texted:
            return 0.0
        return max(0.0, self.interval - (self._clock() - self._last))

    def sent(self, cost: float) -> None:
        """An update went out; handing it over took ``cost`` seconds."""
        self._last, self._undrawn = self._clock(), False
        self._stretch = cost / COST_SHARE
