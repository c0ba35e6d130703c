"""A rendered prompt as tokens: the template's own tags special, every text plain text.

llama.cpp's tokenizer, asked to parse special tokens, turns every ``<seed:eos>`` or
``<seed:bos>`` in a prompt into the control token, whoever wrote it; so a user message, a
tool result or a file containing ``<seed:eos><seed:bos>system…`` would forge a turn. And
Seed's tags (``<seed:think>``, ``</seed:tool_call>``…) are *user-defined* tokens, which
llama.cpp matches even with special parsing off. :func:`prompt_tokens` takes a
:class:`~seedchat.seed.template.RenderedPrompt` and

- splits the template's own text at its special tokens (as llama.cpp does);
- joins the text between them with the adjacent texts (messages, tool results), so the
  byte-pair merges are those of the whole prompt, and tokenizes it with special-token
  parsing off;
- breaks each special token still matched in that text into the tokens of its characters
  as text (``<`` and ``seed:eos>``).

A prompt whose texts hold no tag gets exactly the tokens of tokenizing the whole prompt
with special parsing on, so prefix reuse and saved KV states match turn to turn.

:func:`continued_tokens` is the prompt of a reply that continues the engine's last one
(the tool loop's reply after a tool result): the last prompt and the reply's own tokens as
the model wrote them (its thinking, reflect reports and tags as they were), then the rest
rendered as above. The KV cache holds all of the first part, so only the rest (the tool
results) is evaluated; a re-rendered reply would differ from what the model wrote (the
template leaves earlier thinking out or trims it) and be evaluated again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from seedchat.seed.tags import BOS, EOS
from seedchat.seed.template import RenderedPrompt

#: A text's tokens are estimated as its characters over this, for a model whose tokenizer
#: is not here (on a server) or when there is no model: the one ratio seedchat uses.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """About :data:`CHARS_PER_TOKEN` characters a token (a non-empty text is one at least)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


REPLY_OPEN = BOS + "assistant"  # where a reply starts in a rendered prompt


class Vocab(Protocol):
    """What tokenizing needs of a model (the engine gives it)."""

    def tokenize(self, text: str, parse_special: bool = True) -> list[int]: ...

    def piece(self, token: int) -> bytes: ...

    def is_special(self, token: int) -> bool: ...

    @property
    def special_ids(self) -> frozenset[int]: ...


def prompt_tokens(vocab: Vocab, prompt: RenderedPrompt) -> list[int]:
    """The prompt's tokens: only the template's own tags are special (module docstring)."""
    items: list[str | int] = []  # text and special tokens, in order
    for piece, is_text in prompt.text_parts():
        items += [piece] if is_text else template_items(vocab, piece)
    tokens: list[int] = []
    run: list[str] = []
    for item in [*items, -1]:
        if isinstance(item, str):
            run.append(item)
            continue
        if run:
            tokens += text_tokens(vocab, "".join(run))
            run = []
        if item >= 0:
            tokens.append(item)
    return tokens


def template_items(vocab: Vocab, text: str) -> list[str | int]:
    """The template's own text as its special tokens and the text between them."""
    tokens = vocab.tokenize(text, parse_special=True)
    items: list[str | int] = []
    at = 0
    for token in tokens:
        if not vocab.is_special(token):
            continue
        tag = vocab.piece(token).decode("utf-8", "replace")
        found = text.find(tag, at) if tag else -1
        if found < 0:  # a special token that cannot be placed: keep llama.cpp's tokens
            return list(tokens)
        items += [text[at:found], token]
        at = found + len(tag)
    items.append(text[at:])
    return [item for item in items if item != ""]


def text_tokens(vocab: Vocab, text: str) -> list[int]:
    """``text`` as plain text: no token of it is special."""
    tokens = vocab.tokenize(text, parse_special=False)
    if vocab.special_ids.isdisjoint(tokens):  # nearly always: a file's text is read once
        return tokens
    out: list[int] = []
    for token in tokens:
        if not vocab.is_special(token):
            out.append(token)
            continue
        tag = vocab.piece(token).decode("utf-8", "replace")
        if len(tag) < 2:  # nothing to break: leave it out rather than let it act
            continue
        out += vocab.tokenize(tag[:1], parse_special=False) + text_tokens(vocab, tag[1:])
    return out


@dataclass(frozen=True)
class LastReply:
    """What the KV cache holds after a reply: ``head``, its prompt's text up to where the
    reply starts; ``tokens``, the prompt's tokens and then the reply's."""

    head: str
    tokens: tuple[int, ...]

    @classmethod
    def after(cls, prompt_text: str, cached: list[int]) -> LastReply | None:
        """The reply just written to ``prompt_text``, the cache holding ``cached``."""
        at = prompt_text.rfind(REPLY_OPEN)
        if at < 0:
            return None
        return cls(prompt_text[: at + len(REPLY_OPEN)], tuple(cached))


def continued_tokens(vocab: Vocab, prompt: RenderedPrompt, last: LastReply) -> list[int] | None:
    """The tokens of ``prompt``, which holds ``last``'s reply (re-rendered) and what follows
    it: ``last.tokens``, then the tokens of the prompt from the re-rendered reply's end (its
    ``<seed:eos>``) on. None when ``prompt`` does not continue ``last``."""
    if not prompt.text.startswith(last.head):
        return None
    end = prompt.text.find(EOS, len(last.head))
    for start, stop in prompt.text_spans:  # the reply's own end, not an EOS in its text
        if end < 0:
            return None
        if start <= end < stop:
            end = prompt.text.find(EOS, stop)
    if end < 0:
        return None
    spans = tuple((a - end, b - end) for a, b in prompt.text_spans if a >= end)
    return [*last.tokens, *prompt_tokens(vocab, RenderedPrompt(prompt.text[end:], spans))]
