"""How attached files reach the model: whole, with a longer context, or by retrieval.

The one rule (:func:`choose`), for every front end:

1. the user chose retrieval (``seedchat chat --retrieval``): retrieval;
2. the prompt with the whole files, and the room a reply keeps
   (:func:`seedchat.planner.reply_room`), fits the loaded context: the files go in whole;
3. where the model may be loaded again (a one-shot ``seedchat chat``: nobody else uses it)
   and a context plan (:func:`seedchat.planner.context_plans`) fits this machine and the
   model's trained context: load it with that plan's context;
4. else retrieval (:mod:`seedchat.documents.retrieval`): the passages that best match the question,
   as many as the context's room holds, and a footer that says the whole document was not
   read. The API (:func:`fit_request`) cannot load the model again for a client, so for it
   this follows 2 directly.

Every count is the model's own: the prompt rendered by its template and tokenized as the
engine does (:func:`seedchat.seed.prompt_tokens.prompt_tokens`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from seedchat.backend import available_ram_bytes, detect_gpus
from seedchat.documents.read import Document, detach
from seedchat.documents.retrieval import Retrieval, retrieve
from seedchat.engine.host import count_text, local_engine
from seedchat.engine.local import Engine
from seedchat.events import Notice
from seedchat.planner import (
    ContextPlan,
    context_needed,
    context_plans,
    prompt_fits,
    read_shape,
    reply_room,
)
from seedchat.seed.prompt_tokens import prompt_tokens
from seedchat.seed.template import Message, RenderedPrompt
from seedchat.settings import GenerationOptions

log = logging.getLogger(__name__)

Way = Literal["whole", "reload", "retrieval"]
#: Tries to size the passages when the first choice overshoots the room (token merges at
#: the passages' joins make the sum of their counts a little off).
SIZING_TRIES = 4


@dataclass(frozen=True)
class FitChoice:
    """What :func:`choose` decided, and why (in words for the user)."""

    way: Way
    prompt_tokens: int  # the prompt with the whole files
    n_ctx: int  # the loaded context
    plan: ContextPlan | None = None  # for "reload"
    reason: str = ""  # why the files do not go in whole as loaded


def choose(
    prompt_tokens: int,
    n_ctx: int,
    max_tokens: int,
    forced: bool = False,
    plans: Sequence[ContextPlan] | None = None,
) -> FitChoice:
    """The way the files go (the module doc's rule). ``plans``: the context plans for
    :func:`context_needed`, None where the model cannot be loaded again."""
    if forced:
        return FitChoice("retrieval", prompt_tokens, n_ctx, reason="retrieval was chosen")
    if prompt_fits(prompt_tokens, n_ctx, max_tokens):
        return FitChoice("whole", prompt_tokens, n_ctx)
    reason = f"does not fit in {n_ctx:,} tokens ({prompt_tokens:,} needed)"
    fitting = [p for p in plans or () if p.fits]
    if fitting:
        return FitChoice("reload", prompt_tokens, n_ctx, fitting[0], reason)
    if plans:
        reason += f"; a longer context does not fit: {plans[0].reason}"
    return FitChoice("retrieval", prompt_tokens, n_ctx, reason=reason)


def plans_for(path: Path, prompt_tokens: int, max_tokens: int) -> list[ContextPlan]:
    """The context plans for the prompt on this machine (the GPU's and RAM's free memory)."""
    gpus = detect_gpus()
    free_gpu = gpus[0].free_bytes if gpus else 0
    needed = context_needed(prompt_tokens, max_tokens)
    return context_plans(read_shape(path), needed, free_gpu, available_ram_bytes())


#: How many prompt counts are kept: one send counts the same prompt more than once (the
#: page's meter, then the send's own checks; the terminal's choice, then its meter), and a
#: long document's count takes about the tokenizer's time (a second a million tokens).
KEPT_COUNTS = 4
_counts: OrderedDict[tuple[int, str, RenderedPrompt], int] = OrderedDict()
_counts_lock = threading.Lock()


def count_prompt(engine: Engine, messages: Sequence[Message], options: GenerationOptions) -> int:
    """The tokens of the prompt ``messages`` make, as the engine would send it (the last
    few counts kept, by loaded model and rendered prompt: tokens depend on nothing else)."""
    rendered = engine.template.render_marked(list(messages), options.budget, options.tools)
    key = (id(engine), str(engine.path), rendered)
    with _counts_lock:
        if key in _counts:
            _counts.move_to_end(key)
            return _counts[key]
    tokens = len(prompt_tokens(engine, rendered))
    with _counts_lock:
        _counts[key] = tokens
        while len(_counts) > KEPT_COUNTS:
            _counts.popitem(last=False)
    return tokens


def with_passages(
    engine: Engine,
    messages: Sequence[Message],
    index: int,
    question: str,
    documents: Sequence[Document],
    options: GenerationOptions,
    query: str | None = None,
    most: int | None = None,
) -> tuple[list[Message], Retrieval]:
    """``messages`` with ``messages[index]`` the passages of ``documents`` that best match
    ``query`` (default: ``question``), then the question, as many as keep the prompt and
    its reply's room in the loaded context, and the message within ``most`` tokens."""
    out = list(messages)
    target = engine.n_ctx - reply_room(engine.n_ctx, options.max_tokens)
    out[index] = replace(out[index], content=question)
    count = count_text(engine)
    room = target - count_prompt(engine, out, options) + count(question)
    if most is not None:
        room = min(room, most)
    retrieval = retrieve(documents, question, room, count, query)
    for _ in range(SIZING_TRIES):
        out[index] = replace(out[index], content=retrieval.text)
        over = count_prompt(engine, out, options) - target
        if over <= 0 or not retrieval.passages:
            break
        room -= over + 8
        retrieval = retrieve(documents, question, room, count, query)
    out[index] = replace(out[index], content=retrieval.text)
    return out, retrieval


def earlier_passages(
    engine: Engine,
    messages: Sequence[Message],
    earlier: Sequence[tuple[int, str, Sequence[Document]]],
    latest: str,
    options: GenerationOptions,
    files_follow: bool = False,
) -> list[Retrieval]:
    """Passages for earlier questions' files (``earlier``: each message's index, its
    question and its files) in a prompt that does not fit whole: each file matched against
    its own question and the ``latest``, the room left shared between them (and the latest
    question's files, ``files_follow``: left out of ``messages``, to go in after these)."""
    out = list(messages)
    for index, question, _ in earlier:
        out[index] = replace(out[index], content=question)
    target = engine.n_ctx - reply_room(engine.n_ctx, options.max_tokens)
    share = max(0, target - count_prompt(engine, out, options)) // (len(earlier) + files_follow)
    found = []
    for index, question, documents in earlier:
        most = share + count_text(engine)(question)
        query = f"{question}\n{latest}"
        out, retrieval = with_passages(
            engine, out, index, question, documents, options, query, most
        )
        found.append(retrieval)
    return found


def fit_request(
    engine: object, messages: Sequence[Message], options: GenerationOptions
) -> tuple[list[Message], list[Notice]]:
    """An API request's messages as they reach the model: unchanged when they fit the
    loaded context (or the model is not local); else the last message with files holds
    the passages retrieval chose for its question and the request's last question,
    earlier messages with files the passages matching theirs and the last
    (:func:`earlier_passages`), and notices say which (the client cannot have the model
    loaded again, so there is no plan 3)."""
    messages = list(messages)
    local = local_engine(engine, templated=True)
    if local is None:
        return messages, []
    with_files = [i for i, m in enumerate(messages) if m.attachments]
    if not with_files:
        return messages, []
    choice = choose(count_prompt(local, messages, options), local.n_ctx, options.max_tokens)
    if choice.way == "whole":
        return messages, []
    index, message = with_files[-1], messages[with_files[-1]]
    question = detach(message.content, message.attachments)
    last = next((m for m in reversed(messages) if m.role == "user"), message)
    latest = last.content if last is not message else question
    earlier = [
        (i, detach(messages[i].content, messages[i].attachments), messages[i].attachments)
        for i in with_files[:-1]
    ]
    bare = [*messages[:index], replace(message, content=question), *messages[index + 1 :]]
    notices = []
    for (i, _, _), found in zip(
        earlier, earlier_passages(local, bare, earlier, latest, options, True), strict=False
    ):
        messages[i] = replace(messages[i], content=found.text)
        notices.append(earlier_notice(found))
    query = question if last is message else f"{question}\n{latest}"
    fitted, retrieval = with_passages(
        local, messages, index, question, message.attachments, options, query
    )
    names = ", ".join(doc.name for doc in message.attachments)
    log.info("%s %s: using retrieval (%s)", names, choice.reason, retrieval.summary())
    said = Notice(
        f"{names} {choice.reason}; using retrieval: {retrieval.summary()}.", kind="context"
    )
    return fitted, [said, *notices, retrieval.notice]


def earlier_notice(retrieval: Retrieval) -> Notice:
    """What is said of an earlier question's files given as passages."""
    names = ", ".join(doc.name for doc in retrieval.documents)
    return Notice(
        f"{names} (attached to an earlier question) no longer fits whole beside this one; "
        f"using {retrieval.summary()}, matching both questions.",
        kind="context",
    )
