"""One reply's decode loop: sample, keep the budget, feed the parser; with lookup drafting.

:class:`DecodeLoop` runs after the prompt is in the KV cache. Each step samples the next
token from the logits row it belongs to, gives it to the thinking parser (whose events it
yields) and puts it in the cache. With drafting on (:mod:`seedchat.engine.lookup`), the tokens
the context predicts are decoded in the same batch as the token, each with its logits:
the next samples are then taken from those rows, and a draft is accepted only when the
sample equals it. Every token is still sampled once, in order, from the same logits and
the same sampler state as without drafting, and goes through the same checks (cancel, the
context's end, max tokens, the hard budget's cut, the end of the reply) before the next
one is sampled; so greedy replies are the same token for token and sampled ones come from
the same distribution. Drafts not accepted are removed from the cache at once: it always
holds exactly the reply's tokens.

A token that is one of the model's special tool-call tags (``LoopEngine.tool_tags``) is
given to the parser whole and marked special (``feed(tag, special=True)``): only such
tokens open and close a call, so a closing tag the model copied from a document, which was
tokenized as text, stays in the call's argument (:mod:`seedchat.seed.tool_blocks`).

Whether to cut the thinking is asked of the reply's
:class:`~seedchat.engine.reply_budget.ReplyBudget`, the rule the remote engine keeps too; what
the loop needs of an engine is :class:`LoopEngine`.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from seedchat.engine.lookup import Drafter
from seedchat.engine.reply_budget import ReplyBudget
from seedchat.events import Event, FinishReason
from seedchat.seed.thinking import ThinkingParser


@runtime_checkable
class LoopEngine(Protocol):
    """What :class:`DecodeLoop` needs of an engine (the local
    :class:`~seedchat.engine.local.Engine` gives it over llama.cpp). A sampler is the engine's
    own object, passed back to :meth:`sample` as it was given."""

    n_ctx: int  # the context's size in tokens

    @property
    def tool_tags(self) -> Mapping[int, str]:
        """The model's special ``<seed:tool_call>``/``</seed:tool_call>`` tokens, by id
        (empty when its vocabulary does not have both as single tokens)."""
        ...

    @property
    def cached_tokens(self) -> int:
        """Tokens the KV cache holds."""
        ...

    def tokenize(self, text: str) -> list[int]: ...

    def piece(self, token: int) -> bytes:
        """The bytes of one token as text (special tokens too)."""
        ...

    def is_end(self, token: int) -> bool:
        """Whether ``token`` ends the reply."""
        ...

    def sample(self, sampler: object, row: int) -> int | None:
        """The sampler's pick from logits ``row`` of the last batch (-1: its last); None:
        the reply is over."""
        ...

    def decode(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` after the cache; logits for the last one."""
        ...

    def decode_rows(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` after the cache in one batch, with logits for each."""
        ...

    def forget_last(self, n: int) -> None:
        """Remove the last ``n`` tokens from the KV cache."""
        ...


@dataclass
class LoopLimits:
    max_tokens: int
    budget: ReplyBudget  # the thinking budget: when to cut
    cancel: threading.Event | None


class DecodeLoop:
    """Decodes one reply on ``engine`` (see the module docstring)."""

    def __init__(
        self,
        engine: LoopEngine,
        parser: ThinkingParser,
        chains: tuple[object, object],
        limits: LoopLimits,
        drafter: Drafter | None,
    ) -> None:
        self.engine, self.parser, self.limits = engine, parser, limits
        self.chain, self.answer_chain = chains
        self.drafter = drafter
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.generated = 0
        self.first_token_at: float | None = None
        self.finish: FinishReason = "length"
        self._proposed = 0  # drafts of the current check

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> Iterator[Event]:
        row = -1  # the logits row the next token is sampled from
        drafts: list[int] = []  # tokens decoded after that row, not yet accepted
        while True:
            end = self._end()
            if end is not None or self.limits.budget.must_cut(self.parser):
                self._drop(drafts)
                if end is not None:
                    self.finish = end
                    break
                yield from self._cut()
                row, drafts = -1, []
                continue
            token = self.engine.sample(self._sampler(), row)
            if self.first_token_at is None:
                self.first_token_at = time.monotonic()
            if token is None or self.engine.is_end(token):
                self._drop(drafts)
                self.finish = "stop"
                break
            yield from self._emit(token)
            if drafts and token == drafts[0]:  # the draft already in the cache was right
                drafts.pop(0)
                row += 1
                if not drafts:
                    self._checked()
                continue
            self._drop(drafts)
            drafts = self._propose()
            self._decode([token, *drafts])
            row = 0
        yield from self._flush()

    # -- steps -------------------------------------------------------------------------

    def _end(self) -> FinishReason | None:
        cancel = self.limits.cancel
        if cancel is not None and cancel.is_set():
            return "cancelled"
        if self.generated >= self.limits.max_tokens:
            return "length"
        if self.engine.cached_tokens >= self.engine.n_ctx:
            return "length"
        return None

    def _cut(self) -> Iterator[Event]:
        """The hard budget: end thinking with the exhausted report, as the model would."""
        text = self.limits.budget.cut(self.parser)
        injected = self.engine.tokenize(text)
        self.engine.decode(injected)
        if self.drafter is not None:
            for token in injected:
                self.drafter.add(token)
        yield from self.parser.feed(text, tokens=len(injected), injected=True)

    def _sampler(self) -> object:
        return self.answer_chain if self.parser.thinking_done else self.chain

    def _emit(self, token: int) -> Iterator[Event]:
        self.generated += 1
        if self.drafter is not None:
            self.drafter.add(token)
        tag = self.engine.tool_tags.get(token)
        if tag is not None:  # the model's own tag: whole, and marked as such
            tail = self.decoder.decode(b"", final=True)
            self.decoder.reset()
            if tail:
                yield from self.parser.feed(tail, tokens=0)
            yield from self.parser.feed(tag, special=True)
            return
        text = self.decoder.decode(self.engine.piece(token))
        yield from self.parser.feed(text)  # "" for a partial UTF-8 character: still counted

    def _decode(self, tokens: list[int]) -> None:
        """Put ``tokens`` in the cache, with logits for each; timed for the drafter."""
        if self.drafter is None:
            self.engine.decode_rows(tokens)
            return
        started = time.perf_counter()
        self.engine.decode_rows(tokens)
        self.drafter.timed(len(tokens), time.perf_counter() - started)

    def _propose(self) -> list[int]:
        if self.drafter is None:
            return []
        room = self.engine.n_ctx - self.engine.cached_tokens - 1
        left = self.limits.max_tokens - self.generated
        drafts = self.drafter.propose()[: max(0, min(room, left))]
        self._proposed = len(drafts)
        return drafts

    def _checked(self, wrong: int = 0) -> None:
        proposed = self._proposed
        if self.drafter is not None and proposed:
            self.drafter.checked(proposed, proposed - wrong)
        self._proposed = 0

    def _drop(self, drafts: list[int]) -> None:
        """Remove drafts that were not accepted from the cache."""
        if drafts:
            self._checked(wrong=len(drafts))
            self.engine.forget_last(len(drafts))

    def _flush(self) -> Iterator[Event]:
        tail = self.decoder.decode(b"", final=True)
        if tail:
            yield from self.parser.feed(tail, tokens=0)
        yield from self.parser.finish()

    @property
    def drafted(self) -> int:
        return self.drafter.drafted if self.drafter is not None else 0

    @property
    def accepted(self) -> int:
        return self.drafter.accepted if self.drafter is not None else 0
