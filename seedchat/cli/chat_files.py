"""How ``seedchat chat``'s attached files reach the model (:mod:`seedchat.chat.fitting`'s rule).

Whole when they fit the loaded context. When they do not, a one-shot chat (nobody else
uses the model) loads it again with a context plan that fits this machine and the model's
trained context; otherwise, or with ``--retrieval``, the passages that best match the
question go in (:mod:`seedchat.documents.retrieval`). Each choice is said on stderr::

    report.pdf does not fit in 8,192 tokens (23,410 needed); loading with 32,768 tokens (KV f16) …
    report.pdf does not fit in 8,192 tokens (…); a longer context does not fit: …; using
    retrieval: 6 passages of report.pdf (pages 3–5, 12) …
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from seedchat.chat.fitting import choose, count_prompt, plans_for
from seedchat.chat.prompt_size import prompt_size
from seedchat.chat.session import ChatSession
from seedchat.cli.console import err_console, note
from seedchat.documents.read import Document, ocr_words, read_document
from seedchat.documents.retrieval import Retrieval
from seedchat.engine.host import ModelHost, local_engine
from seedchat.planner import ContextPlan
from seedchat.wording import context_meter_words, does_not_fit_words


def read_files(paths: Sequence[str]) -> list[Document]:
    """``--file``'s files read, each page's progress shown on stderr while it is read (a
    scanned page takes seconds: it is read by OCR; Ctrl+C stops); what was read by OCR is
    said."""
    files = []
    with err_console.status("reading the files…") as status:
        for path in paths:

            def progress(done: int, pages: int, path: str = path) -> None:
                status.update(f"reading {path}: page {done} of {pages}")

            files.append(read_document(path, progress=progress))
            if ocr_words(files[-1]):
                note(f"{files[-1].name}: {ocr_words(files[-1])}")
    return files


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
    engine = local_engine(host, templated=True)
    if args.raw or engine is None:
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


#: a prompt is long, and its size is printed before it is sent, from this share of the
#: loaded context up
LONG_PROMPT_SHARE = 0.25


def prompt_meter(
    host: ModelHost,
    session: ChatSession,
    question: str,
    files: Sequence[Document] = (),
    retrieval: Retrieval | None = None,
) -> str | None:
    """ "41,870 of 65,536 tokens" for a long prompt (a quarter of the context or more) on a
    local model, with what to do when it does not fit; None for a short one."""
    engine = local_engine(host)
    if engine is None:
        return None
    size = prompt_size(engine, session, question, files, retrieval)
    if size is None or size.n_ctx is None or size.tokens < size.n_ctx * LONG_PROMPT_SHARE:
        return None
    text = context_meter_words(size.tokens, size.n_ctx)
    if not size.fits:
        text += " — " + does_not_fit_words(size.tokens, size.n_ctx, size.needed, size.drops_turns)
        text += (
            f" 'seedchat plan {engine.path.name} --context {size.needed}' shows the ways to "
            "load a longer context."
        )
    return text
