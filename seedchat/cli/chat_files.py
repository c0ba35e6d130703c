"""How ``seedchat chat``'s attached files reach the model (:mod:`seedchat.fitting`'s rule).

Whole when they fit the loaded context. When they do not, a one-shot chat (nobody else
uses the model) loads it again with a context plan that fits this machine and the model's
trained context; otherwise, or with ``--retrieval``, the passages that best match the
question go in (:mod:`seedchat.retrieval`). Each choice is said on stderr::

    report.pdf does not fit in 8,192 tokens (23,410 needed); loading with 32,768 tokens (KV f16) …
    report.pdf does not fit in 8,192 tokens (…); a longer context does not fit: …; using
    retrieval: 6 passages of report.pdf (pages 3–5, 12) …
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from seedchat.cli.console import note
from seedchat.documents import Document
from seedchat.engine import Engine
from seedchat.fitting import choose, count_prompt, plans_for
from seedchat.host import ModelHost
from seedchat.planner import ContextPlan
from seedchat.retrieval import Retrieval
from seedchat.session import ChatSession


def fit_files(
    args: argparse.Namespace,
    host: ModelHost,
    session: ChatSession,
    question: str,
    files: Sequence[Document],
    reload: Callable[[ContextPlan], None] | None = None,
) -> Retrieval | None:
    """None when ``files`` go in whole (after ``reload`` loaded the model with a longer
    context, if that was needed: a one-shot chat gives it), else the retrieval whose
    passages stand in for them. Earlier questions' files that no longer fit whole go as
    passages first (:meth:`ChatSession.fit_earlier_files`)."""
    engine = host.engine
    if args.raw or not isinstance(engine, Engine) or engine.template is None:
        return None  # a remote model's context is its server's to judge
    if not files and not session.whole_earlier_files():
        return None
    forced = bool(getattr(args, "retrieval", False))
    names = ", ".join(doc.name for doc in files)
    options = session.generation_options()
    tokens = count_prompt(engine, session.messages(question, files), options)
    choice = choose(tokens, engine.n_ctx, options.max_tokens, forced)
    if choice.way == "retrieval" and not forced and reload is not None:
        plans = plans_for(engine.path, tokens, options.max_tokens)
        choice = choose(tokens, engine.n_ctx, options.max_tokens, plans=plans)
    if choice.way == "reload" and choice.plan is not None:
        plan = choice.plan
        what = names or "the conversation's files"
        note(f"{what} {choice.reason}; loading with {plan.n_ctx:,} tokens (KV {plan.kv_type}) …")
        reload(plan)
        return fit_files(args, host, session, question, files)
    if choice.way == "whole":
        return None
    whole = session.whole_earlier_files()
    session.fit_earlier_files(question, files)
    if not files:
        return None
    if not forced and session.whole_earlier_files() != whole:  # earlier files now passages
        tokens = count_prompt(engine, session.messages(question, files), options)
        if choose(tokens, engine.n_ctx, options.max_tokens).way == "whole":
            return None
    retrieval = session.passages_for(question, files)
    if retrieval is None:  # not reached: a local model, and files
        return None
    why = "using retrieval (turned on)" if forced else f"{names} {choice.reason}; using retrieval"
    note(f"{why}: {retrieval.summary()} …")
    return retrieval
