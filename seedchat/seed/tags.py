"""The Seed chat format's text, in one place: its tags and the lines seedchat writes.

Every string of Seed's format that seedchat reads or writes lives here, each under one
name (``docs/seed-format.md`` describes the format, with its sources)::

    <seed:bos>assistant
    <seed:think>…<seed:cot_budget_reflect>I have used 129 tokens, and there are 383
    tokens remaining for use.</seed:cot_budget_reflect>…</seed:think>answer<seed:eos>

A name holds one string; the ``*_TAGS`` tuples hold every spelling the parser accepts
(Seed-Coder-Reasoning may write ``<think>``). :mod:`seedchat.seed.budget` decides *when* to
cut thinking; this module says *what* is written then (:func:`forced_end_text`).
"""

from __future__ import annotations

BOS = "<seed:bos>"
EOS = "<seed:eos>"
PAD = "<seed:pad>"
#: Control tokens that never belong in thinking or answer text.
CONTROL_TOKENS = (EOS, BOS, PAD)

THINK_OPEN = "<seed:think>"
THINK_CLOSE = "</seed:think>"
#: Every opening/closing think tag the parser accepts.
THINK_OPEN_TAGS = (THINK_OPEN, "<think>")
THINK_CLOSE_TAGS = (THINK_CLOSE, "</think>")

REFLECT_OPEN = "<seed:cot_budget_reflect>"
REFLECT_CLOSE = "</seed:cot_budget_reflect>"

TOOL_CALL_OPEN = "<seed:tool_call>"
TOOL_CALL_CLOSE = "</seed:tool_call>"

#: The model's own words when it decides its budget is spent (docs/seed-format.md).
EXHAUSTED_LINE = "I have exhausted my token budget, and now I will start answering the question."
EXHAUSTED_REFLECT = f"{REFLECT_OPEN}{EXHAUSTED_LINE}{REFLECT_CLOSE}"


def reflect_text(used: int, remaining: int) -> str:
    """A model-style usage report, as Seed-OSS writes it."""
    return (
        f"{REFLECT_OPEN}I have used {used} tokens, and there are {remaining} tokens "
        f"remaining for use.{REFLECT_CLOSE}"
    )


def forced_end_text(think_close: str = THINK_CLOSE, in_reflect: bool = False) -> str:
    """What seedchat writes to end thinking at a hard budget: the exhausted report, then
    the closing tag.

    ``in_reflect``: the model is in the middle of its own report, which is closed first so
    the injected report does not nest inside it.
    """
    prefix = REFLECT_CLOSE if in_reflect else ""
    return f"{prefix}\n{EXHAUSTED_REFLECT}\n{think_close}"
