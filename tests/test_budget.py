import time

import pytest

from seedchat.engine.reply_budget import ReplyBudget
from seedchat.errors import SettingsError
from seedchat.events import Reflect, ThinkingEnd
from seedchat.seed.budget import (
    ENFORCEMENTS,
    default_enforcement,
    is_hard,
    normalize_budget,
    reflect_interval,
    should_force_end,
)
from seedchat.seed.tags import REFLECT_CLOSE, forced_end_text, reflect_text
from seedchat.seed.thinking import ThinkingParser
from seedchat.settings import GenerationOptions


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
    assert is_hard(1, "hard") and not is_hard(0, "hard") and not is_hard(512, "soft")
    assert ENFORCEMENTS == ("hard", "soft")  # the default first


def test_injected_end_and_model_style_report_parse_back():
    parser = ThinkingParser(start_in_thinking=True)
    events = parser.feed(reflect_text(128, 384)) + parser.feed(forced_end_text(), injected=True)
    reflects = [e for e in events if isinstance(e, Reflect)]
    assert [(r.used, r.remaining, r.exhausted, r.injected) for r in reflects] == [
        (128, 384, False, False),
        (None, 0, True, True),
    ]
    assert isinstance(events[-1], ThinkingEnd) and events[-1].forced


# -- one reply's budget (ReplyBudget: what both engines keep) ---------------------------------

PROMPT = "<seed:bos>user\nHi<seed:eos><seed:bos>assistant\n<seed:think>"


def test_a_reply_budget_begins_as_both_engines_did():
    reply = ReplyBudget(GenerationOptions(budget=1000))
    assert (reply.budget, reply.enforcement, reply.cuts) == (1000, "hard", True)
    assert [n.text for n in reply.notices] == [n.text for n in normalize_budget(1000)[1]]
    assert ReplyBudget(GenerationOptions(budget=-1)).enforcement == "soft"
    assert not ReplyBudget(GenerationOptions(budget=-1)).cuts
    assert not ReplyBudget(GenerationOptions(budget=512, enforcement="soft")).cuts
    assert not ReplyBudget(GenerationOptions(budget=512, raw=True)).cuts
    assert not ReplyBudget(GenerationOptions(budget=512), raw=True).cuts
    with pytest.raises(SettingsError, match="out of range"):
        ReplyBudget(GenerationOptions(budget=-7))


def test_the_parser_starts_where_the_prompt_leaves_it():
    reply = ReplyBudget(GenerationOptions(budget=512))
    assert reply.parser(PROMPT).in_thinking
    assert reply.parser(PROMPT + "<seed:cot_budget_reflect>").in_reflect
    assert not reply.parser(PROMPT + "</seed:think>").in_thinking
    raw = ReplyBudget(GenerationOptions(budget=512), raw=True)
    assert not raw.parser(PROMPT).in_thinking  # a raw completion has no thinking state


def _think(parser: ThinkingParser, tokens: int) -> None:
    for _ in range(tokens):
        parser.feed("x")


def test_the_cut_is_made_once_at_exactly_the_budget():
    reply = ReplyBudget(GenerationOptions(budget=100))
    parser = reply.parser(PROMPT)
    _think(parser, 99)
    assert not reply.must_cut(parser)
    _think(parser, 1)
    assert reply.must_cut(parser)
    parser.feed(reflect_text(64, 36).removesuffix(REFLECT_CLOSE))  # the cut closes it first
    assert reply.cut(parser) == forced_end_text(in_reflect=True) and reply.forced
    _think(parser, 5)  # thinking still open, past the budget: cut once only
    assert parser.in_thinking and not reply.must_cut(parser)
    events = parser.feed(forced_end_text(in_reflect=True), injected=True)
    assert isinstance(events[-1], ThinkingEnd) and events[-1].forced
    assert parser.thinking_tokens == 106 and not reply.must_cut(parser)


def test_no_cut_when_soft_unlimited_or_left_to_the_server():
    for options in (GenerationOptions(budget=100, enforcement="soft"), GenerationOptions()):
        reply = ReplyBudget(options)
        parser = reply.parser(PROMPT)
        _think(parser, 300)
        assert not reply.must_cut(parser)
    reply = ReplyBudget(GenerationOptions(budget=100))
    parser = reply.parser(PROMPT)
    _think(parser, 100)
    reply.not_cut_here()
    assert not reply.must_cut(parser)


def test_done_statistics_from_counts_and_times():
    reply = ReplyBudget(GenerationOptions(budget=0))
    reply.started = time.monotonic() - 10.0
    done = reply.done(
        "stop",
        prompt_tokens=60,
        evaluated_prompt_tokens=50,
        generated_tokens=41,
        thinking_tokens=7,
        first_token_at=reply.started + 2.0,
        prefill_done=reply.started + 0.5,
        drafted_tokens=5,
        accepted_tokens=3,
        restored_prompt_tokens=10,
    )
    assert (done.finish_reason, done.prompt_tokens, done.evaluated_prompt_tokens) == (
        "stop",
        60,
        50,
    )
    assert (done.generated_tokens, done.thinking_tokens) == (41, 7)
    assert (done.drafted_tokens, done.accepted_tokens, done.restored_prompt_tokens) == (5, 3, 10)
    assert done.time_to_first_token == pytest.approx(2.0)
    assert done.prompt_tokens_per_second == pytest.approx(100.0)
    assert 10.0 <= done.seconds < 11.0
    assert 4.5 < done.tokens_per_second <= 5.0  # 40 tokens after the first in about 8 s
    bare = reply.done(
        "cancelled",
        prompt_tokens=60,
        evaluated_prompt_tokens=50,
        generated_tokens=1,
        thinking_tokens=0,
        first_token_at=None,
    )
    assert bare.time_to_first_token is bare.tokens_per_second is None
    assert bare.prompt_tokens_per_second is None  # no prefill time measured (a server)
