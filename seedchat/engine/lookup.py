"""Lookup drafting: guess the next tokens from text the conversation already holds.

When an answer copies text that is already there — a pasted function being edited, a
paragraph being corrected, a quote — the tokens after the last few tokens have usually
occurred before, followed by the same continuation. :class:`Drafter` keeps an n-gram index
of the conversation's tokens (the prompt and the reply so far, updated as tokens come) and
proposes the tokens that followed the longest recent match (n from :data:`MAX_N` down to
:data:`MIN_N`). The engine checks them all in one batch (seedchat.engine.decoding).

How many to propose is chosen from what the machine and the text show: the time a batch of
n tokens takes (measured as the reply goes: on a GPU or for a big model a batch of 8 costs
little more than one; for a small model on a CPU nearly 8 times one) and how often a draft
token has been right lately. It proposes the number that gives the most tokens per second
(possibly none), and when none pays it pauses for a while before trying again, so text
that copies nothing is decoded as without drafting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_N, MAX_N = 2, 4  # the n-grams looked up, longest first
MAX_DRAFT = 8  # tokens proposed at most in one step
PAUSE = 48  # tokens to decode plainly when drafting does not pay, before trying again
PRIOR_HIT = 0.7  # the chance a draft token is right, before any was checked
DECAY = 0.9  # how fast old checks are forgotten
EXTRA_COST = 0.25  # a batch's cost per extra token (× one token's) until measured


@dataclass
class Drafter:
    """The n-gram index of one reply's context and the drafting policy."""

    tokens: list[int] = field(default_factory=list)
    _index: dict[tuple[int, ...], int] = field(default_factory=dict, repr=False)
    _indexed: int = 0  # n-grams ending before this position are in the index
    _cost: dict[int, float] = field(default_factory=dict, repr=False)  # seconds per batch size
    _right: float = PRIOR_HIT  # decayed count of draft tokens that were right
    _tried: float = 1.0  # decayed count of draft tokens checked (with the first wrong one)
    _paused: int = 0  # tokens left to decode plainly
    drafted: int = 0
    accepted: int = 0

    @classmethod
    def over(cls, context: list[int]) -> Drafter:
        drafter = cls(tokens=list(context))
        drafter._catch_up(len(drafter.tokens) - 1)
        return drafter

    def add(self, token: int) -> None:
        """A token the reply now holds (decoded plainly, accepted, or injected)."""
        self.tokens.append(token)
        if self._paused:
            self._paused -= 1

    def _catch_up(self, end: int) -> None:
        """Index every n-gram that ends before position ``end``."""
        tokens, index = self.tokens, self._index
        for n in range(MIN_N, MAX_N + 1):  # at C speed: a long document's prompt is fast
            lo = max(self._indexed, n - 1)  # the n-gram ending at ``last`` starts at last+1-n
            if lo >= end:
                continue
            grams = zip(*(tokens[lo + 1 - n + i : end + 1 - n + i] for i in range(n)), strict=True)
            index.update(zip(grams, range(lo, end), strict=True))  # the latest occurrence wins
        self._indexed = max(self._indexed, end)

    def propose(self) -> list[int]:
        """Tokens that followed the latest earlier occurrence of the context's last
        n-gram (the longest that occurred), as many as pay; or none."""
        tokens = self.tokens
        self._catch_up(len(tokens) - 1)  # not the n-grams that end at the last token
        if self._paused or len(tokens) < MIN_N:
            return []
        for n in range(MAX_N, MIN_N - 1, -1):
            end = self._index.get(tuple(tokens[-n:]))
            if end is not None:
                length = self.best_length()
                if length == 0:
                    self._pause()
                return tokens[end + 1 : end + 1 + length]
        return []

    # -- the policy ----------------------------------------------------------------------

    @property
    def hit_rate(self) -> float:
        """The recent chance that a draft token is right, given the ones before it were."""
        return self._right / self._tried

    def timed(self, batch: int, seconds: float) -> None:
        """A batch of ``batch`` tokens took ``seconds`` to decode."""
        old = self._cost.get(batch)
        self._cost[batch] = seconds if old is None else 0.7 * old + 0.3 * seconds

    def _batch_cost(self, n: int, one: float) -> float:
        if n in self._cost:
            return self._cost[n]
        below = max((k for k in self._cost if k < n), default=1)
        base = self._cost.get(below, one)
        return base + one * EXTRA_COST * (n - below)

    def best_length(self) -> int:
        """The number of drafts that gives the most tokens per second of decoding: a step
        yields 1 + p + p² + … + pᵏ tokens for a batch of k + 1."""
        one = self._cost.get(1)
        if one is None:
            return 4  # nothing measured yet: try a few, then know
        p = self.hit_rate
        best, best_rate, expected = 0, 1.0 / one, 1.0
        for k in range(1, MAX_DRAFT + 1):
            expected += p**k
            rate = expected / self._batch_cost(k + 1, one)
            if rate > best_rate * 1.02:
                best, best_rate = k, rate
        return best

    def checked(self, proposed: int, right: int) -> None:
        """The model took ``right`` of the ``proposed`` tokens."""
        if not proposed:
            return
        self.drafted += proposed
        self.accepted += right
        wrong = 1 if right < proposed else 0
        self._right = DECAY * self._right + right
        self._tried = DECAY * self._tried + right + wrong

    def _pause(self) -> None:
        self._paused = PAUSE
        if self.hit_rate < PRIOR_HIT:  # after the pause, give drafting a fair chance again
            self._right, self._tried = PRIOR_HIT, 1.0
