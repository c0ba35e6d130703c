"""One reply's thinking budget, kept the same way by every engine.

:class:`ReplyBudget` is made once per reply from its :class:`GenerationOptions`, before
anything else happens, by the local :class:`~seedchat.engine.local.Engine` (through
:class:`~seedchat.engine.decoding.DecodeLoop`) and by :class:`~seedchat.engine.remote.RemoteEngine`:

1. the prelude: the budget checked (:func:`~seedchat.seed.budget.normalize_budget`, with its
   notices), the enforcement (:func:`~seedchat.seed.budget.default_enforcement` when none is
   asked for), the clock started, and the thinking parser in the state the rendered
   prompt leaves it (:meth:`ReplyBudget.parser`);
2. the cut: :meth:`ReplyBudget.must_cut` is the one place that decides when thinking is
   cut (:func:`~seedchat.seed.budget.should_force_end`: hard, a positive budget, the true count
   at the budget; thinking still open; not a raw completion; at most once), and
   :meth:`ReplyBudget.cut` gives the text that ends it
   (:func:`~seedchat.seed.tags.forced_end_text`), which each engine puts after the
   thinking its own way (tokens into the KV cache, or a continued completion);
3. the statistics: :meth:`ReplyBudget.done` builds the reply's :class:`Done` from the
   counts and times each engine measured.
"""

from __future__ import annotations

import time

from seedchat.events import Done, FinishReason, Notice
from seedchat.seed import budget as budgets
from seedchat.seed import tags
from seedchat.seed.budget import Enforcement
from seedchat.seed.thinking import ThinkingParser, initial_state
from seedchat.settings import GenerationOptions


class ReplyBudget:
    """The budget of one reply (see the module docstring)."""

    def __init__(self, options: GenerationOptions, *, raw: bool | None = None) -> None:
        """Raises :class:`~seedchat.errors.SettingsError` for a budget out of range.
        ``raw``: a plain completion of the prompt text (default ``options.raw``): no
        thinking state from the prompt and no cut."""
        self.started = time.monotonic()
        self.budget, notices = budgets.normalize_budget(options.budget)
        self.notices: list[Notice] = notices  # yielded by the engine, first
        self.enforcement: Enforcement = options.enforcement or budgets.default_enforcement(
            self.budget
        )
        self.raw = options.raw if raw is None else raw
        #: whether this engine cuts the thinking at the budget (see :meth:`not_cut_here`)
        self.cuts = not self.raw and budgets.is_hard(self.budget, self.enforcement)
        self.forced = False  # the cut was made

    def not_cut_here(self) -> None:
        """This engine does not cut this reply: its server keeps the budget itself, or
        the reply cannot be continued after a cut."""
        self.cuts = False

    def parser(self, prompt: str, marked: bool = False) -> ThinkingParser:
        """The thinking parser in the state ``prompt`` (the rendered prompt) leaves it: in
        thinking when the template opened the think block (and in a reflect report).
        ``marked``: the engine marks the model's special tool-call tokens."""
        in_think, in_reflect = (False, False) if self.raw else initial_state(prompt)
        return ThinkingParser(
            start_in_thinking=in_think, start_in_reflect=in_reflect, marked=marked
        )

    def must_cut(self, parser: ThinkingParser) -> bool:
        """Whether the thinking must be cut now, before the next token."""
        return (
            self.cuts
            and not self.forced
            and parser.in_thinking
            and budgets.should_force_end(self.budget, self.enforcement, parser.thinking_tokens)
        )

    def cut(self, parser: ThinkingParser) -> str:
        """Make the cut: the text that ends the thinking as the model would (the exhausted
        report, closed, and the think block's end). The engine puts it after the thinking
        and feeds it to ``parser`` as injected."""
        self.forced = True
        return tags.forced_end_text(in_reflect=parser.in_reflect)

    def done(
        self,
        finish: FinishReason,
        *,
        prompt_tokens: int,
        evaluated_prompt_tokens: int,
        generated_tokens: int,
        thinking_tokens: int,
        first_token_at: float | None,
        prefill_done: float | None = None,
        prefill_started: float | None = None,
        drafted_tokens: int = 0,
        accepted_tokens: int = 0,
        restored_prompt_tokens: int = 0,
    ) -> Done:
        """The reply's statistics, timed from when this budget was made; ``first_token_at``
        and ``prefill_done`` are :func:`time.monotonic` times (None: not reached); the
        prefill rate is timed from ``prefill_started`` (the evaluation's start, after the
        prompt was made and a saved state restored), else from when this budget was made."""
        now = time.monotonic()
        decoding = now - first_token_at if first_token_at else 0.0
        begun = self.started if prefill_started is None else prefill_started
        prefill = prefill_done - begun if prefill_done is not None else 0.0
        return Done(
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            evaluated_prompt_tokens=evaluated_prompt_tokens,
            generated_tokens=generated_tokens,
            thinking_tokens=thinking_tokens,
            seconds=now - self.started,
            time_to_first_token=first_token_at - self.started if first_token_at else None,
            tokens_per_second=(generated_tokens - 1) / decoding
            if generated_tokens > 1 and decoding > 0
            else None,
            prompt_tokens_per_second=evaluated_prompt_tokens / prefill
            if evaluated_prompt_tokens and prefill > 0
            else None,
            drafted_tokens=drafted_tokens,
            accepted_tokens=accepted_tokens,
            restored_prompt_tokens=restored_prompt_tokens,
        )
