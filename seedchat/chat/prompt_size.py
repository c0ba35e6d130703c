"""How big the next prompt is against the loaded context: one count for the page and the
terminal.

:func:`prompt_size` renders the prompt the next send would make (the session's system
prompt, turns, the question and its files, with the model's own template) and counts it
with the loaded model's tokenizer the way the engine will (:func:`seedchat.seed.prompt_tokens.
prompt_tokens`: only the template's tags are special). A remote server's tokenizer is not
here: its size is estimated from the text (:func:`seedchat.engine.host.count_text`) and
says so.

:class:`PromptSize` knows whether the prompt fits with room for the reply
(:func:`seedchat.planner.reply_room`, the engine's rule) and the context it needs
(:func:`seedchat.planner.context_needed`, what the planner's plans are priced for). The
words are :mod:`seedchat.wording`'s (``context_meter_words``, ``does_not_fit_words``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seedchat.chat.fitting import count_prompt
from seedchat.chat.session import ChatSession
from seedchat.documents.read import Document
from seedchat.documents.retrieval import Retrieval
from seedchat.engine.host import count_text, local_engine
from seedchat.engine.remote import RemoteEngine
from seedchat.planner import context_needed, prompt_fits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptSize:
    """A prompt's tokens against the loaded context (``n_ctx`` None: not known)."""

    tokens: int
    n_ctx: int | None
    max_tokens: int
    estimated: bool = False  # counted from the text, not by the model's tokenizer
    question_alone: int | None = None  # tokens of the question without earlier turns

    @property
    def fits(self) -> bool:
        """Whether the prompt and the room for its reply fit the context."""
        if self.n_ctx is None:
            return True
        return prompt_fits(self.tokens, self.n_ctx, self.max_tokens)

    @property
    def needed(self) -> int:
        """The smallest context the prompt fits in, with room for the reply."""
        return context_needed(self.tokens, self.max_tokens)

    @property
    def drops_turns(self) -> bool:
        """Whether sending as it is leaves the oldest turns out (the question alone fits)
        rather than being refused."""
        if self.fits or self.n_ctx is None or self.question_alone is None:
            return False
        alone = self.question_alone
        return alone < self.tokens and prompt_fits(alone, self.n_ctx, self.max_tokens)


def prompt_size(
    engine: Any,
    session: ChatSession,
    question: str,
    files: Sequence[Document] = (),
    retrieval: Retrieval | None = None,
) -> PromptSize | None:
    """The size of the prompt ``session.turn(question, attachments=files,
    retrieval=retrieval)`` would send to ``engine`` (an Engine or a RemoteEngine); None when
    there is none to count with."""
    max_tokens = session.settings.max_tokens
    options = session.generation_options()
    local = local_engine(engine)
    if local is not None:
        if local.template is None:
            return None
        tokens = count_prompt(local, session.messages(question, files, retrieval), options)
        size = PromptSize(tokens, local.n_ctx, max_tokens)
        if size.fits or not session.turns:
            return size
        alone = ChatSession(local, None, session.settings).messages(question, files, retrieval)
        alone_tokens = count_prompt(local, alone, options)
        return PromptSize(tokens, local.n_ctx, max_tokens, question_alone=alone_tokens)
    if isinstance(engine, RemoteEngine):
        text = engine.render(session.messages(question, files, retrieval), options)
        return PromptSize(count_text(engine)(text), None, max_tokens, estimated=True)
    return None
