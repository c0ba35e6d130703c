"""Lookup decoding: drafts from the conversation, checked in one batch by the real llama.cpp,
change nothing the model writes — the same greedy tokens, the same sampled distribution,
the same budget cut, stop and cancel — and leave the KV cache holding exactly the reply."""

from __future__ import annotations

import math
import threading
from collections import Counter

import pytest

from seedchat.engine.local import Engine
from seedchat.engine.lookup import MAX_DRAFT, PAUSE, Drafter
from seedchat.events import AnswerDelta, ThinkingDelta, ThinkingEnd
from seedchat.models import demo_model
from seedchat.seed.template import Message
from seedchat.settings import GenerationOptions, LoadOptions

GREETING = (
    "Hello! I am the seedchat demo model, a tiny model that shows how thinking works. "
    "Ask me to add two numbers."
)
# a reply that copies the conversation: greeted again, the demo model greets as it did
COPY = [
    Message("user", "Hello!"),
    Message("assistant", GREETING),
    Message("user", "Hi there."),
]
PROSE = [Message("user", "What is 12 plus 30?")]
# text the demo model never learned, for sampling: its continuations spread over many
# tokens, and the drafter still finds the code's n-grams earlier in the prompt
CODE = "\n".join(f"def step_{i}(x, y):\n    return x * {i} + y  # step {i}" for i in range(10))
CODE_PROMPT = [Message("user", "Repeat this code exactly, then say done:\n" + CODE)]


@pytest.fixture(scope="module")
def engine():
    with Engine.load(
        demo_model(),  # no saved KV states: an emptied cache is evaluated again
        LoadOptions(n_gpu_layers=0, context_length=4096, threads=2, kv_cache_disk_gb=0),
    ) as e:
        yield e


@pytest.fixture
def batches_cost_one_token(monkeypatch):
    """A batch costs what one token does (as for a big model or on a GPU): drafting then
    always pays, so these tests check drafts on any machine, however busy (on a small
    model on a loaded CPU the measured costs can make the drafter all but stop)."""
    timed = Drafter.timed
    monkeypatch.setattr(Drafter, "timed", lambda self, batch, seconds: timed(self, batch, 1e-3))


def reply(engine: Engine, messages, lookup: str, cancel_after: int | None = None, **kw) -> tuple:
    kw.setdefault("temperature", 0.0)
    options = GenerationOptions(lookup_decoding=lookup, **kw)
    cancel = threading.Event()
    events = []
    for event in engine.generate(messages, options, cancel):
        events.append(event)
        if cancel_after is not None and len(events) >= cancel_after:
            cancel.set()
    text = "".join(e.text for e in events if isinstance(e, ThinkingDelta | AnswerDelta))
    return text, events


# -- the drafter alone ----------------------------------------------------------------------


def test_the_drafter_proposes_what_followed_the_longest_earlier_match():
    drafter = Drafter.over([1, 2, 3, 4, 5, 6, 9, 2, 3])
    assert drafter.propose() == [4, 5, 6, 9]  # "2 3" came before, followed by 4 5 6 9
    drafter.add(7)
    assert drafter.propose() == []  # "3 7" never came before
    unmatched = Drafter.over([5, 6, 7])
    assert unmatched.propose() == []


def test_the_drafter_proposes_as_many_as_pay_on_this_machine():
    drafter = Drafter.over(list(range(50)) * 2)
    assert len(drafter.propose()) == 4  # nothing measured yet: a few
    # batches that cost little more than one token (a big model, a GPU): long drafts pay
    for n in range(1, MAX_DRAFT + 2):
        drafter.timed(n, 0.100 + 0.002 * n)
    drafter.checked(4, 4)
    assert drafter.best_length() == MAX_DRAFT
    # batches that cost nearly n times one token (a tiny model on a CPU): only short drafts
    # pay, and only while they are mostly right
    for _ in range(20):
        for n in range(1, MAX_DRAFT + 2):
            drafter.timed(n, 0.010 * (1 + 0.8 * (n - 1)))
    for _ in range(20):
        drafter.checked(8, 7)
    assert 1 <= drafter.best_length() < MAX_DRAFT
    for _ in range(20):
        drafter.checked(4, 1)
    assert drafter.best_length() == 0
    assert drafter.propose() == []  # and it pauses
    for _ in range(PAUSE):
        drafter.add(0)
    drafter.add(1)
    drafter.add(2)
    assert drafter.hit_rate >= 0.5  # a fair chance again after the pause
    assert drafter.drafted == 4 + 8 * 20 + 4 * 20 and drafter.accepted == 4 + 7 * 20 + 20


# -- the same tokens ------------------------------------------------------------------------


@pytest.mark.parametrize("messages", [COPY, PROSE], ids=["copies", "copies-nothing"])
@pytest.mark.usefixtures("batches_cost_one_token")
def test_greedy_replies_are_identical_with_drafting_on_and_off(engine, messages):
    plain, plain_events = reply(engine, messages, "off", budget=-1, max_tokens=300)
    drafted, events = reply(engine, messages, "auto", budget=-1, max_tokens=300)
    assert drafted == plain
    done, plain_done = events[-1], plain_events[-1]
    assert (done.generated_tokens, done.finish_reason) == (
        plain_done.generated_tokens,
        plain_done.finish_reason,
    )
    assert plain_done.drafted_tokens == 0
    if messages is COPY:
        assert plain.endswith(GREETING)
        assert done.drafted_tokens > 20 and done.accepted_tokens > 10


@pytest.mark.usefixtures("batches_cost_one_token")
def test_the_hard_budget_cut_lands_on_the_same_token(engine):
    """The demo model's thinking repeats itself, so drafts are checked up to the cut."""
    for thinking in ("off", "auto"):
        text, events = reply(
            engine, PROSE, thinking, budget=100, enforcement="hard", max_tokens=400
        )
        end = next(e for e in events if isinstance(e, ThinkingEnd))
        assert end.forced and end.tokens == 100
        if thinking == "off":
            plain = text
    assert text == plain
    assert events[-1].accepted_tokens > 0


@pytest.mark.usefixtures("batches_cost_one_token")
def test_max_tokens_and_cancel_end_at_the_same_token(engine):
    short_plain, _ = reply(engine, COPY, "off", budget=-1, max_tokens=37)
    short, events = reply(engine, COPY, "auto", budget=-1, max_tokens=37)
    assert short == short_plain and events[-1].generated_tokens == 37
    cut_plain, plain_events = reply(engine, COPY, "off", budget=-1, max_tokens=300, cancel_after=30)
    cut, events = reply(engine, COPY, "auto", budget=-1, max_tokens=300, cancel_after=30)
    assert events[-1].finish_reason == plain_events[-1].finish_reason == "cancelled"
    # the reply stops within a token of the cancel, drafting or not
    assert abs(events[-1].generated_tokens - plain_events[-1].generated_tokens) <= 1
    assert cut_plain.startswith(cut) or cut.startswith(cut_plain)


@pytest.mark.usefixtures("batches_cost_one_token")
def test_the_cache_holds_exactly_the_reply_after_rejected_drafts(engine):
    text, events = reply(engine, COPY, "auto", budget=0, max_tokens=200)
    done = events[-1]
    assert done.drafted_tokens > done.accepted_tokens  # some drafts were rejected
    assert engine.cached_tokens == done.prompt_tokens + done.generated_tokens
    # the next turn reuses that cache: only the new message is evaluated, and what the
    # model writes is what it writes after evaluating everything from scratch
    follow = [*COPY, Message("assistant", text), Message("user", "Now say it again.")]
    again, again_events = reply(engine, follow, "off", budget=0, max_tokens=60)
    assert again_events[-1].evaluated_prompt_tokens < again_events[-1].prompt_tokens / 2
    engine.forget_last(engine.cached_tokens)  # an empty cache: the whole prompt evaluated
    fresh, fresh_events = reply(engine, follow, "off", budget=0, max_tokens=60)
    assert fresh_events[-1].evaluated_prompt_tokens == fresh_events[-1].prompt_tokens
    assert fresh == again


# -- the same distribution --------------------------------------------------------------------


def _homogeneity_p(a: list[int], b: list[int]) -> float:
    """The chi-square test that two samples' category counts come from one distribution:
    P(χ² ≥ the statistic) for len(a) - 1 degrees of freedom."""
    total_a, total_b = sum(a), sum(b)
    stat = 0.0
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x + y]  # categories that occurred
    for x, y in pairs:
        pooled = (x + y) / (total_a + total_b)
        for count, total in ((x, total_a), (y, total_b)):
            expected = pooled * total
            stat += (count - expected) ** 2 / expected
    return _gamma_q((len(pairs) - 1) / 2, stat / 2)


def _gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) (Numerical Recipes)."""
    if x <= 0:  # no difference at all: the two samples' counts were equal
        return 1.0
    if x < a + 1:  # series for P, then 1 - P
        term = total = 1 / a
        for n in range(1, 500):
            term *= x / (a + n)
            total += term
        return 1 - total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    b, c, d = x + 1 - a, 1 / 1e-300, 1 / (x + 1 - a)  # continued fraction for Q
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = 1 / (an * d + b)
        c = b + an / c
        h *= d * c
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


@pytest.mark.usefixtures("batches_cost_one_token")
def test_sampled_continuations_keep_their_distribution(engine):
    """1,000 continuations of 4 tokens at temperature 1 (500 seeds, drafting on and off):
    the same distribution by a chi-square test, and per seed nearly always the same text
    (each token is sampled once, by the same sampler state, from the same logits)."""
    prompt = engine.render(CODE_PROMPT, GenerationOptions(budget=0)) + CODE[:200]  # mid-answer
    samples: dict[str, Counter] = {"off": Counter(), "auto": Counter()}
    same = drafted = 0
    n = 500
    for seed in range(n):
        texts = {}
        for mode in ("off", "auto"):
            texts[mode], events = reply(
                engine, prompt, mode, raw=True, max_tokens=4, temperature=1.0, top_p=1.0, seed=seed
            )
            samples[mode][texts[mode]] += 1
        drafted += events[-1].drafted_tokens
        same += texts["off"] == texts["auto"]
    assert drafted > n  # the drafts were really checked
    common = [k for k, _ in (samples["off"] + samples["auto"]).most_common(12)]
    counts = {m: [samples[m][k] for k in common] for m in samples}
    for m in samples:  # everything else as one more category
        counts[m].append(sum(samples[m].values()) - sum(counts[m]))
    p = _homogeneity_p(counts["auto"], counts["off"])
    assert p > 0.001, (p, counts)
    assert same >= 0.95 * n
