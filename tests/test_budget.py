import pytest

from seedchat.budget import (
    default_enforcement,
    normalize_budget,
    reflect_interval,
    should_force_end,
)
from seedchat.errors import SettingsError
from seedchat.events import Reflect, ThinkingEnd
from seedchat.seed_format import forced_end_text, reflect_text
from seedchat.thinking import ThinkingParser


@pytest.mark.parametrize(
    ("budget", "interval"),
    [
        (-1, None),
        (0, None),
        (512, 128),
        (1024, 256),
        (2048, 512),
        (4096, 512),
        (8192, 1024),
        (16384, 1024),
        (1536, 512),
        (300, 128),
        (65536, 1024),
    ],
)
def test_reflect_interval_follows_the_template(budget, interval):
    assert reflect_interval(budget) == interval


def test_trained_budgets_have_no_notice():
    for budget in (-1, 0, 512, 1024, 2048, 4096, 8192, 16384):
        assert normalize_budget(budget) == (budget, [])


def test_unusual_budgets_are_accepted_with_a_notice():
    value, notices = normalize_budget(1000)
    assert value == 1000 and "multiple of 512" in notices[0].text
    value, notices = normalize_budget(100)
    assert value == 100 and "recommend 0" in notices[0].text


@pytest.mark.parametrize("bad", [-2, 10**9, 1.5, True, "512"])
def test_absurd_budgets_are_refused_with_the_range(bad):
    with pytest.raises(SettingsError) as err:
        normalize_budget(bad)
    assert "-1" in str(err.value)


def test_enforcement_rules():
    assert default_enforcement(512) == "hard" and default_enforcement(0) == "soft"
    assert default_enforcement(-1) == "soft"
    assert should_force_end(512, "hard", 512) and not should_force_end(512, "hard", 511)
    assert not should_force_end(512, "soft", 5000)
    assert not should_force_end(-1, "hard", 10**6)


def test_injected_end_and_model_style_report_parse_back():
    parser = ThinkingParser(start_in_thinking=True)
    events = parser.feed(reflect_text(128, 384)) + parser.feed(forced_end_text(), injected=True)
    reflects = [e for e in events if isinstance(e, Reflect)]
    assert [(r.used, r.remaining, r.exhausted, r.injected) for r in reflects] == [
        (128, 384, False, False),
        (None, 0, True, True),
    ]
    assert isinstance(events[-1], ThinkingEnd) and events[-1].forced
