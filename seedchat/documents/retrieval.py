"""Retrieval: the passages of attached files that best match a question, when the files
cannot go into the prompt whole.

:func:`retrieve` splits each :class:`~seedchat.documents.read.Document` into passages
(:func:`split_passages`: paragraph-sized, at most :data:`MAX_CHARS` characters, never across
a PDF page), each with where it is (the PDF page from the ``[page N]`` lines, else the
lines of the file), indexes them in SQLite's FTS5 and ranks them by BM25 against the
question. The best ones go in, as many as ``room_tokens`` holds (counted with the
caller's ``count_tokens``: the model's own tokenizer), and stand in the message in the
files' order::

    [file: report.pdf, 3 of 48 passages (the whole file was not read)]
    [page 3]
    …the passage's text, exactly…

    [page 12]
    …
    [end of file: report.pdf]

    What changed since the last quarter?

A file that is not a PDF names lines instead: ``[lines 120–164]``. The text is tokenized
as text like the rest of the message (:mod:`seedchat.seed.prompt_tokens`).

The index is an in-memory SQLite database, built for the question and dropped after it:
the passages depend on the question's room (so nothing in it is worth keeping), building
it takes milliseconds for a book, and the store's database is left to the store (its one
writer, its migrations) rather than filled with derived rows.

:attr:`Retrieval.notice` is the answer's footer (a
:class:`~seedchat.events.RetrievalNotice`): which passages were used and that the whole
document was not read. docs/documents.md ("Retrieval") describes it for users.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seedchat.documents.read import Document
from seedchat.events import RetrievalNotice

#: A passage ends at a paragraph break once it holds this many characters…
TARGET_CHARS = 700
#: …and at a line end once it holds this many (a longer line is cut).
MAX_CHARS = 1400
#: How many ranked passages are considered for the room (the rest rank too low to matter).
CANDIDATES = 2000
#: Passages in a row that do not fit the room left before the choice stops looking.
MISSES = 64
#: Words too common to tell passages apart; left out of the question's search.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "he",
        "his",
        "her",
        "about",
        "into",
        "than",
        "not",
        "no",
        "yes",
        "if",
        "but",
        "also",
        "any",
        "all",
        "some",
    ]
)

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Passage:
    """A stretch of one document: its text exactly, and where it is."""

    file: str  # the document's name
    document: int  # the document's place among those retrieved from
    start: int  # offset of the text in the document's text
    text: str
    first_line: int  # 1-based lines of the document
    last_line: int
    page: int | None = None  # a PDF's page (1-based); None for other kinds

    @property
    def where(self) -> str:
        """``page 3`` or ``lines 120–164`` (``line 7`` for one)."""
        if self.page is not None:
            return f"page {self.page}"
        if self.first_line == self.last_line:
            return f"line {self.first_line}"
        return f"lines {self.first_line}–{self.last_line}"

    @property
    def label(self) -> str:
        """``report.pdf, page 3``: the passage as the footer names it."""
        return f"{self.file}, {self.where}"


@dataclass(frozen=True)
class Retrieval:
    """The passages chosen for a question (in the documents' order) and the message."""

    question: str
    documents: tuple[Document, ...]
    passages: tuple[Passage, ...]
    totals: tuple[int, ...]  # how many passages each document was split into
    text: str  # the user's message: the passages of each file, then the question

    def summary(self) -> str:
        """``6 passages of report.pdf (pages 3–5, 12)``; files are joined by ``; ``."""
        parts = []
        for i, doc in enumerate(self.documents):
            mine = [p for p in self.passages if p.document == i]
            if not mine:
                parts.append(f"no passage of {doc.name}")
                continue
            count = f"{len(mine)} passage{'s' if len(mine) != 1 else ''}"
            parts.append(f"{count} of {doc.name} ({places(mine)})")
        return "; ".join(parts)

    @property
    def notice(self) -> RetrievalNotice:
        """The answer's footer: which passages were used, and that the rest was not read."""
        whole = "document was" if len(self.documents) == 1 else "documents were"
        return RetrievalNotice(
            f"Answered from {self.summary()}: the whole {whole} not read.",
            passages=tuple(p.label for p in self.passages),
        )


def places(passages: Sequence[Passage]) -> str:
    """Where passages of one document are: ``pages 3–5, 12`` or ``lines 1–40, 120–164``."""
    if passages[0].page is not None:
        spans = [(p.page, p.page) for p in passages]
        unit = "page"
    else:
        spans = [(p.first_line, p.last_line) for p in passages]
        unit = "line"
    merged: list[list[int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    one = len(merged) == 1 and merged[0][0] == merged[0][1]
    words = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in merged)
    return f"{unit}{'' if one else 's'} {words}"


# -- passages ----------------------------------------------------------------------------


def split_passages(document: Document, index: int = 0) -> list[Passage]:
    """``document``'s text in passages, in order: each ends at a paragraph break once it
    holds :data:`TARGET_CHARS` characters, at a line end once it holds :data:`MAX_CHARS`
    (a longer line is cut), and at each PDF page (whose ``[page N]`` line is left out:
    the passage names its page)."""
    text = document.text
    passages: list[Passage] = []
    starts = list(document.pages) or [0]
    counted, line = 0, 1  # the line at offset ``counted`` (counted on as passages go)
    for n, begin in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(text)
        page = None
        if document.pages:
            page = n + 1
            line_end = text.find("\n", begin, end)
            begin = end if line_end < 0 else line_end + 1  # after the "[page N]" line
        for start, stop in _chunks(text, begin, end):
            body = text[start:stop]
            lead = len(body) - len(body.lstrip("\n"))
            body = body.strip("\n")
            if not body.strip():
                continue
            line += text.count("\n", counted, start + lead)
            counted = start + lead
            first = line
            passages.append(
                Passage(
                    document.name,
                    index,
                    start + lead,
                    body,
                    first,
                    first + body.count("\n"),
                    page,
                )
            )
    return passages


def _chunks(text: str, begin: int, end: int) -> list[tuple[int, int]]:
    """The (start, stop) offsets of the passages of ``text[begin:end]``."""
    out: list[tuple[int, int]] = []
    start = pos = begin
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        if line_end - start > MAX_CHARS and pos > start:  # the line would overflow: end before it
            out.append((start, pos))
            start = pos
            continue
        while line_end - start > MAX_CHARS:  # one line longer than a passage: cut it
            cut = text.rfind(" ", start + MAX_CHARS // 2, start + MAX_CHARS)
            cut = cut + 1 if cut > 0 else start + MAX_CHARS
            out.append((start, cut))
            start = cut
        blank = not text[pos:line_end].strip() or text.startswith("\n", line_end)
        pos = line_end
        if pos - start >= TARGET_CHARS and blank:  # a paragraph break
            out.append((start, pos))
            start = pos
    if start < end:
        out.append((start, end))
    return out


# -- ranking -----------------------------------------------------------------------------


def search_terms(question: str) -> list[str]:
    """The question's words that tell passages apart (lower case, no stopwords), once each."""
    words = re.findall(r"\w+", question.lower())
    seen: dict[str, None] = {}
    for word in words:
        if (len(word) > 1 or not word.isascii()) and word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def rank(passages: Sequence[Passage], question: str) -> list[int]:
    """The indexes of the passages that match the question, best first (BM25 over an
    in-memory FTS5 index; the Porter stemmer, so ``sets`` finds ``set``)."""
    terms = search_terms(question)
    if not terms or not passages:
        return []
    db = sqlite3.connect(":memory:")
    try:
        db.execute(
            "CREATE VIRTUAL TABLE passages USING fts5(body, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        db.executemany(
            "INSERT INTO passages (rowid, body) VALUES (?, ?)",
            ((i, p.text) for i, p in enumerate(passages)),
        )
        query = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        rows = db.execute(
            "SELECT rowid FROM passages WHERE passages MATCH ? "
            "ORDER BY bm25(passages), rowid LIMIT ?",
            [query, CANDIDATES],
        ).fetchall()
    finally:
        db.close()
    return [row[0] for row in rows]


# -- the message -------------------------------------------------------------------------


def passage_block(passage: Passage) -> str:
    """One passage as it stands in the message: where it is, then its text exactly."""
    return f"[{passage.where}]\n{passage.text}\n"


def file_header(document: Document, chosen: int, total: int) -> str:
    return f"[file: {document.name}, {chosen} of {total} passages (the whole file was not read)]\n"


def message_text(
    question: str,
    documents: Sequence[Document],
    passages: Sequence[Passage],
    totals: Sequence[int],
) -> str:
    """The user's message: each file's chosen passages (in order), then the question."""
    blocks = []
    for i, doc in enumerate(documents):
        mine = [p for p in passages if p.document == i]
        if not mine:
            continue
        body = "\n".join(passage_block(p) for p in mine)
        blocks.append(f"{file_header(doc, len(mine), totals[i])}{body}[end of file: {doc.name}]\n")
    text = "\n".join(blocks)
    return f"{text}\n{question}" if text and question else text or question


def retrieve(
    documents: Sequence[Document],
    question: str,
    room_tokens: int,
    count_tokens: TokenCounter,
    query: str | None = None,
) -> Retrieval:
    """The passages of ``documents`` that best match ``query`` (default: ``question``), as
    many as fit in ``room_tokens`` (the whole message's tokens, question included, as
    ``count_tokens`` counts them), in the documents' order, then ``question``. With no word
    of the query in any passage, the first passages are taken."""
    documents = tuple(documents)
    split = [split_passages(doc, i) for i, doc in enumerate(documents)]
    totals = tuple(len(s) for s in split)
    every = [p for s in split for p in s]
    order = rank(every, query or question) or list(range(len(every)))
    fixed = count_tokens(question) + 8  # the question, the blank line, rounding
    headers = {
        i: count_tokens(file_header(doc, 999, 999) + f"[end of file: {doc.name}]\n")
        for i, doc in enumerate(documents)
    }
    used, misses = fixed, 0
    chosen: list[Passage] = []
    opened: set[int] = set()
    for i in order:
        passage = every[i]
        cost = count_tokens(passage_block(passage)) + 1
        if passage.document not in opened:
            cost += headers[passage.document]
        if used + cost > room_tokens:
            misses += 1
            if misses >= MISSES:
                break
            continue
        used, misses = used + cost, 0
        opened.add(passage.document)
        chosen.append(passage)
    chosen.sort(key=lambda p: (p.document, p.start))
    text = message_text(question, documents, chosen, totals)
    return Retrieval(question, documents, tuple(chosen), totals, text)
