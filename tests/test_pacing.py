"""The page's streamed updates go at a frame rate: at most five a second while the model
thinks and four while it answers, at least four while anything is new, slower when an
update costs more, at once when the turn's shape changes (seedchat.ui.pacing)."""

from __future__ import annotations

from seedchat.events import (
    AnswerDelta,
    Done,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolRun,
)
from seedchat.ui.pacing import ANSWER_INTERVAL, MAX_INTERVAL, MIN_INTERVAL, UpdatePacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _drawn_in_a_second(pacer: UpdatePacer, clock: Clock, event: object) -> int:
    drawn = 0
    for _ in range(1000):  # a thousand tokens a second for one second
        clock.now += 0.001
        if pacer.due([event]):
            drawn += 1
            pacer.sent(0.002)
    return drawn


def test_thinking_is_drawn_at_most_five_times_a_second_the_answer_four():
    clock = Clock()
    pacer = UpdatePacer(clock)
    assert 5 <= _drawn_in_a_second(pacer, clock, ThinkingDelta("x", 1)) <= 6  # the first at once
    assert 4 <= _drawn_in_a_second(pacer, clock, AnswerDelta("x")) <= 4
    assert pacer.interval == ANSWER_INTERVAL > MIN_INTERVAL
    pacer.due([ThinkingStart()])  # thinking again (after a tool): its counters are live
    assert pacer.interval == MIN_INTERVAL
    assert 5 <= _drawn_in_a_second(pacer, clock, ThinkingDelta("x", 2)) <= 5


def test_nothing_new_is_never_drawn_and_undrawn_text_is_drawn_when_its_time_comes():
    clock = Clock()
    pacer = UpdatePacer(clock)
    assert pacer.due([ThinkingDelta("a", 1)])  # the first one: at once
    pacer.sent(0.0)
    clock.now += MIN_INTERVAL * 3
    assert not pacer.due([])  # nothing new since the last update
    assert pacer.due([ThinkingDelta("b", 2)])  # new, and the interval has passed
    pacer.sent(0.0)
    clock.now += 0.01
    assert not pacer.due([ThinkingDelta("c", 3)])  # too soon after the last update
    assert not pacer.due([])
    clock.now += MIN_INTERVAL
    assert pacer.due([])  # "c" is still undrawn: the wait's empty batch draws it


def test_the_turns_shape_is_drawn_at_once():
    for event in (
        ThinkingEnd(5, 0.1),
        ToolRun("call-1", "t"),
        Done("stop"),
    ):
        pacer = UpdatePacer(Clock())
        pacer.sent(0.0)
        assert pacer.due([event]), event


def test_a_reflect_line_goes_with_the_next_paced_update():
    clock = Clock()
    pacer = UpdatePacer(clock)
    pacer.sent(0.0)
    assert not pacer.due([Reflect(256, 768, False, "x")])  # a line more, not a new shape
    clock.now += MIN_INTERVAL
    assert pacer.due([])  # drawn with the next update


def test_costly_updates_stretch_the_interval_but_counters_stay_live():
    pacer = UpdatePacer(Clock())
    pacer.due([ThinkingDelta("a", 1)])
    pacer.sent(0.005)
    assert pacer.interval == MIN_INTERVAL
    pacer.sent(0.06)  # an update that took 60 ms: draw less often
    assert MIN_INTERVAL < pacer.interval <= MAX_INTERVAL
    pacer.sent(5.0)  # however costly, the counters still change every MAX_INTERVAL
    assert pacer.interval == MAX_INTERVAL <= 0.25
    pacer.due([AnswerDelta("b")])  # the answer: four a second, however cheap the updates
    pacer.sent(0.0)
    assert pacer.interval == ANSWER_INTERVAL <= MAX_INTERVAL


def test_the_first_text_is_drawn_at_once():
    clock = Clock()
    pacer = UpdatePacer(clock)
    assert pacer.due([ThinkingEnd(0, 0.0)])  # the empty think block of budget 0
    pacer.sent(0.0)
    clock.now += 0.001
    assert pacer.due([AnswerDelta("Once")])  # the first word does not wait its turn
    pacer.sent(0.0)
    clock.now += 0.001
    assert not pacer.due([AnswerDelta(" upon")])


def test_the_reader_rests_until_the_next_update_can_be_due():
    clock = Clock()
    pacer = UpdatePacer(clock)
    assert pacer.rest() == 0.0  # until the first text is drawn: no rest, it goes at once
    assert pacer.due([AnswerDelta("a")])
    pacer.sent(0.0)
    assert pacer.rest() == ANSWER_INTERVAL
    clock.now += ANSWER_INTERVAL / 4
    assert abs(pacer.rest() - ANSWER_INTERVAL * 3 / 4) < 1e-9
    clock.now += ANSWER_INTERVAL
    assert pacer.rest() == 0.0  # an update is due: no rest
