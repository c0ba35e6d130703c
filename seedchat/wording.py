"""Events in words: the same text on the page and in the terminal.

The page (:mod:`seedchat.ui.render`, as Markdown and block titles) and ``seedchat chat``
(as rich markup) word a budget, a thinking count, the model's reflect report, the end of
thinking and a reply's statistics with these functions, so one event reads the same in
both. Plain strings, no markup, no gradio.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from seedchat.events import Done, Prefill, Reflect, ThinkingEnd, ToolRun
from seedchat.seed.template import Message

#: The longest stretch of a reflect line's own text shown when it states no numbers.
REFLECT_TEXT_CHARS = 60


def budget_label(budget: int) -> str:
    """How a budget reads: "unlimited", "answer directly", "512 tokens"."""
    if budget < 0:
        return "unlimited"
    if budget == 0:
        return "answer directly"
    return f"{budget} tokens"


def format_seconds(seconds: float) -> str:
    """ "3.2 s", or "1 min 15 s" from a minute on."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def token_count(tokens: int, budget: int, approximate: bool = False) -> str:
    """A thinking count against the budget: "312 / 1024 tokens", "~312 tokens" (estimated
    from a remote server's chunks), no denominator when the budget is unlimited."""
    about = "~" if approximate else ""
    if budget > 0:
        return f"{about}{tokens} / {budget} tokens"
    return f"{about}{tokens} tokens"


def reflect_summary(event: Reflect) -> str:
    """The model's self-report in a few words: "used 258, 254 left"; a report that states
    no numbers reads as its own words (shortened), or "no count stated"."""
    if event.exhausted:
        return "budget exhausted"
    parts = []
    if event.used is not None:
        parts.append(f"used {event.used}")
    if event.remaining is not None:
        parts.append(f"{event.remaining} left")
    if parts:
        return ", ".join(parts)
    said = " ".join(event.raw.split())
    if len(said) > REFLECT_TEXT_CHARS:
        said = said[: REFLECT_TEXT_CHARS - 1].rstrip() + "…"
    return said or "no count stated"


def reflect_note(event: Reflect) -> tuple[str, str]:
    """Who wrote a reflect line and what it says, as the thinking text shows it:
    ("model", "used 258, 254 left (true count 270)") or, for seedchat's hard cut,
    ("seedchat", "budget reached at 512 tokens, thinking cut")."""
    if event.injected:
        return "seedchat", f"budget reached at {event.true_count} tokens, thinking cut"
    text = "budget exhausted, starting the answer" if event.exhausted else reflect_summary(event)
    return "model", f"{text} (true count {event.true_count})"


def thinking_title(
    tokens: int, budget: int, last_reflect: Reflect | None, approximate: bool = False
) -> str:
    """The live title: "Thinking · 312 / 1024 tokens · model: used 258, 254 left"."""
    title = f"Thinking · {token_count(tokens, budget, approximate)}"
    if last_reflect is not None and not last_reflect.injected:
        title += f" · model: {reflect_summary(last_reflect)}"
    return title


def finished_title(end: ThinkingEnd, budget: int, approximate: bool = False) -> str:
    """Once thinking ended: "Thought for 3.2 s · 412 / 512 tokens" (· cut at the budget,
    · unfinished)."""
    count = token_count(end.tokens, budget, approximate)
    title = f"Thought for {format_seconds(end.seconds)} · {count}"
    if end.forced:
        title += " · cut at the budget"
    elif end.unclosed:
        title += " · unfinished"
    return title


def prefill_line(event: Prefill) -> str:
    """A long prompt's evaluation: "Reading the prompt: 12,288 of 100,412 tokens · 610
    tokens/s · about 2 min 24 s left" (no speed or time left until they are known)."""
    parts = [f"Reading the prompt: {event.done:,} of {event.total:,} tokens"]
    if event.tokens_per_second > 0:
        parts.append(f"{event.tokens_per_second:,.0f} tokens/s")
    if event.seconds_left and event.done < event.total:
        left = event.seconds_left
        parts.append(
            f"about {format_seconds(left) if left >= 60 else f'{max(1, round(left))} s'} left"
        )
    return " · ".join(parts)


def prompt_counts(done: Done) -> list[str]:
    """Where the prompt's tokens came from: "restored 9,812", "reused 120", "evaluated 35"
    (restored: from a saved KV state; reused: already in the KV cache)."""
    if not done.prompt_tokens:
        return []
    restored = done.restored_prompt_tokens
    reused = max(0, done.prompt_tokens - done.evaluated_prompt_tokens - restored)
    parts = [f"restored {restored:,}"] if restored else []
    if reused:
        parts.append(f"reused {reused:,}")
    parts.append(f"evaluated {done.evaluated_prompt_tokens:,}")
    return parts


def done_footer(done: Done) -> str:
    """A reply's statistics in one line: "57 tokens · 40 thinking · 12.3 tok/s · …"."""
    parts = [f"{done.generated_tokens} tokens"]
    if done.thinking_tokens:
        parts.append(f"{done.thinking_tokens} thinking")
    if done.tokens_per_second:
        parts.append(f"{done.tokens_per_second:.1f} tok/s")
    if done.time_to_first_token is not None:
        parts.append(f"first token {done.time_to_first_token:.2f} s")
    parts.extend(prompt_counts(done))
    if done.drafted_tokens:  # lookup decoding ran
        parts.append(f"drafted {done.drafted_tokens} · accepted {done.accepted_tokens}")
    parts.append(f"{format_seconds(done.seconds)} total")
    if done.finish_reason == "length":
        parts.append("stopped at max tokens")
    elif done.finish_reason == "cancelled":
        parts.append("stopped")
    return " · ".join(parts)


#: A tool call's state in words (its card's status on the page, its line in the terminal).
TOOL_STATUS = {
    "waiting": "waiting for approval",
    "running": "running",
    "done": "done",
    "failed": "failed",
    "declined": "declined",
}


def tool_call_text(name: str, arguments: dict[str, Any]) -> str:
    """A call as a person reads it: "get_current_time(timezone="Asia/Tokyo")"."""
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    return f"{name}({args})"


def tool_run_line(run: ToolRun) -> str:
    """A call's state in one line: "get_current_time(…) · done in 0.1 s · {…}"."""
    parts = [tool_call_text(run.name, run.arguments), TOOL_STATUS[run.status]]
    if run.status in ("done", "failed"):
        parts[1] += f" in {format_seconds(run.seconds)}"
    if run.preview and run.status != "declined":
        parts.append(run.preview)
    return " · ".join(parts)


def context_meter_words(tokens: int, n_ctx: int | None, estimated: bool = False) -> str:
    """A prompt's size against the loaded context: "41,870 of 65,536 tokens"; estimated
    (a remote server's tokenizer is not here): "about 1,230 tokens (estimated)"."""
    about = "about " if estimated else ""
    size = f"{about}{tokens:,} of {n_ctx:,} tokens" if n_ctx else f"{about}{tokens:,} tokens"
    return size + (" (estimated)" if estimated else "")


def does_not_fit_words(tokens: int, n_ctx: int, needed: int, drops_turns: bool) -> str:
    """What happens to a prompt that does not fit, before it is sent."""
    head = (
        f"Does not fit: {tokens:,} tokens and room for the reply need a context of "
        f"{needed:,}; {n_ctx:,} is loaded."
    )
    if drops_turns:
        return head + (
            " Sent as it is, the oldest turns are left out (each is named); or reload with "
            "a longer context."
        )
    return head + " Reload with a longer context, or shorten the message or its files."


def dropped_notice(dropped: Sequence[Message], n_ctx: int, words: int = 6) -> str:
    """Which old messages a turn left out, each by its role and first ``words`` words."""
    named = []
    for m in dropped:
        head = m.content.split()
        named.append(f'{m.role} "{" ".join(head[:words])}{"…" if len(head) > words else ""}"')
    return (
        f"The conversation is longer than the context of {n_ctx:,} tokens; left out of this "
        f"turn: the {len(dropped)} oldest message(s): {'; '.join(named)}."
    )
