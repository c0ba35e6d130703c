"""Full-text search over saved conversations: titles, answers (and questions), thinking,
and the text of attached files (a hit names the question the file is attached to).

The indexes are FTS5 tables with the trigram tokenizer (:mod:`seedchat.store.migrations`),
which matches any run of three or more characters: English words and Chinese text
(which has no spaces between words) alike, case-insensitively. A query is split on
white space into terms that must all occur; terms of three characters or more go
through the index and are ranked with bm25 (titles weigh most, then answers, then
thinking); shorter terms (a two-character Chinese word such as 模型, "AI") cannot use
trigrams and are matched with ``LIKE`` instead, over the rows the index found or, when
the query has only short terms, over every row (newest first). A term found in more
than ``RANK_WINDOW`` messages is ranked among the newest of them (bm25 over a whole
doclist of a very common term would cost more than a search should).

Snippets mark each match with ``highlight`` (default ``<mark>``…``</mark>``); the
text around it is left as it is (callers escape it for their display).

:func:`search` reads through a :class:`~seedchat.store.db.Db`; ``Store.search`` calls
it with the store's.
"""

from __future__ import annotations

from dataclasses import dataclass

from seedchat.store.db import Db

SNIPPET_TOKENS = 16  # trigrams (≈ characters) of context FTS5 keeps around a match
SNIPPET_CHARS = 40  # characters of context each side, for LIKE matches
MIN_TRIGRAM = 3
CONTENT_WEIGHT, THINKING_WEIGHT = 1.0, 0.6  # bm25 column weights: answers over thinking
RANK_WINDOW = 5000  # a term in more messages than this is ranked among the newest 5,000


@dataclass
class SearchHit:
    conversation_id: str
    title: str
    message_id: str | None  # None for a match in the title
    field: str  # "title", "content", "thinking" or "attachment" (a question's file)
    role: str | None
    snippet: str
    rank: float  # lower is better (bm25); 0 for LIKE-only matches
    updated_at: float
    origin: str = "app"  # the conversation's ("app" or "api")


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def highlight_text(
    text: str, terms: list[str], marks: tuple[str, str], context: int = SNIPPET_CHARS
) -> str:
    """A window of ``text`` around the first term found, every term occurrence marked."""
    low = text.lower()
    spans = []
    for term in terms:
        t = term.lower()
        start = low.find(t)
        while start != -1 and t:
            spans.append((start, start + len(t)))
            start = low.find(t, start + len(t))
    if not spans:
        return text[: 2 * context] + ("…" if len(text) > 2 * context else "")
    spans.sort()
    first = spans[0][0]
    lo = max(0, first - context)
    hi = min(len(text), spans[0][1] + context)
    out, pos = [], lo
    for s, e in spans:
        if s < pos or e > hi:
            continue
        out += [text[pos:s], marks[0], text[s:e], marks[1]]
        pos = e
    out.append(text[pos:hi])
    return (
        ("…" if lo > 0 else "") + "".join(out).replace("\n", " ") + ("…" if hi < len(text) else "")
    )


def search(
    db: Db,
    query: str,
    limit: int = 20,
    highlight: tuple[str, str] = ("<mark>", "</mark>"),
) -> list[SearchHit]:
    """Conversations (not in the trash) matching every term of ``query``, best first."""
    terms = [t.strip('"') for t in query.split() if t.strip('"')]
    if not terms:
        return []
    long_terms = [t for t in terms if len(t) >= MIN_TRIGRAM]
    short_terms = [t for t in terms if len(t) < MIN_TRIGRAM]
    if not long_terms:
        return _like_hits(db, terms, limit, highlight)
    match = " ".join(_fts_phrase(t) for t in long_terms)
    hits = _message_hits(db, match, short_terms, limit, highlight)
    hits += _title_hits(db, match, short_terms, limit, highlight)
    hits += _attachment_hits(db, match, short_terms, limit, highlight)
    hits.sort(key=lambda h: h.rank)
    return hits[:limit]


def _title_hits(
    db: Db, match: str, short_terms: list[str], limit: int, marks: tuple[str, str]
) -> list[SearchHit]:
    """Conversations whose title matches ``match`` (and every short term), best first."""
    open_, close = marks
    short_title = "".join(" AND c.title LIKE ? ESCAPE '\\'" for _ in short_terms)
    rows = db.read(
        f"""
        SELECT c.id, c.title, highlight(conversations_fts, 0, ?, ?),
            bm25(conversations_fts) * 2.0, c.updated_at, c.origin
        FROM conversations_fts
        JOIN conversations c ON c.seq = conversations_fts.rowid
        WHERE conversations_fts MATCH ? AND c.deleted_at IS NULL{short_title}
        ORDER BY rank LIMIT ?
        """,
        [open_, close, match, *[_like(t) for t in short_terms], limit],
    )
    return [
        SearchHit(cid, title, None, "title", None, snip, rank, updated, origin)
        for cid, title, snip, rank, updated, origin in rows
    ]


def _attachment_hits(
    db: Db, match: str, short_terms: list[str], limit: int, marks: tuple[str, str]
) -> list[SearchHit]:
    """Questions whose attached files match ``match`` (and every short term), best first;
    the snippet starts with the file's name."""
    open_, close = marks
    short_text = "".join(" AND a.text LIKE ? ESCAPE '\\'" for _ in short_terms)
    rows = db.read(
        f"""
        SELECT c.id, c.title, m.id, m.role, l.name,
            snippet(attachments_fts, 0, ?, ?, '…', ?), bm25(attachments_fts),
            c.updated_at, c.origin
        FROM attachments_fts
        JOIN attachments a ON a.seq = attachments_fts.rowid
        JOIN message_attachments l ON l.sha256 = a.sha256
        JOIN messages m ON m.id = l.message_id
        JOIN conversations c ON c.id = m.conversation_id
        WHERE attachments_fts MATCH ? AND c.deleted_at IS NULL{short_text}
        ORDER BY rank LIMIT ?
        """,
        [open_, close, SNIPPET_TOKENS, match, *[_like(t) for t in short_terms], limit],
    )
    return [
        SearchHit(cid, title, mid, "attachment", role, f"{name}: {snip}", rank, updated, origin)
        for cid, title, mid, role, name, snip, rank, updated, origin in rows
    ]


def _like_hits(db: Db, terms: list[str], limit: int, marks: tuple[str, str]) -> list[SearchHit]:
    """Only short terms: no trigram can match, scan with LIKE (titles, then messages
    newest first)."""
    cond = " AND ".join(
        "(m.content LIKE ? ESCAPE '\\' OR m.thinking LIKE ? ESCAPE '\\')" for _ in terms
    )
    params = [p for t in terms for p in (_like(t), _like(t))]
    title_cond = " AND ".join("c.title LIKE ? ESCAPE '\\'" for _ in terms)
    rows = db.read(
        f"""
        SELECT c.id, c.title, NULL, NULL, c.title, '', c.updated_at, c.origin
        FROM conversations c
        WHERE c.deleted_at IS NULL AND {title_cond}
        ORDER BY c.updated_at DESC LIMIT ?
        """,
        [*[_like(t) for t in terms], limit],
    )
    rows += db.read(
        f"""
        SELECT c.id, c.title, m.id, m.role, m.content, m.thinking, c.updated_at, c.origin
        FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE c.deleted_at IS NULL AND {cond}
        ORDER BY m.seq DESC LIMIT ?
        """,
        [*params, limit],
    )
    hits = []
    for cid, title, mid, role, content, thinking, updated, origin in rows[:limit]:
        if mid is None:
            field, text = "title", content
        else:
            in_content = all(t.lower() in content.lower() for t in terms)
            field, text = ("content", content) if in_content else ("thinking", thinking)
        snippet = highlight_text(text, terms, marks)
        hits.append(SearchHit(cid, title, mid, field, role, snippet, 0.0, updated, origin))
    return hits


def _message_hits(
    db: Db, match: str, short_terms: list[str], limit: int, marks: tuple[str, str]
) -> list[SearchHit]:
    """Messages matching ``match`` (and every short term), best first, with snippets."""
    rank_of, rows = _best_messages(db, match, short_terms, limit)
    rows.sort(key=lambda r: rank_of[r[0]])
    rows = rows[:limit]
    if not rows:
        return []
    snippets = _snippets(db, match, [r[0] for r in rows], marks)
    hits = []
    for seq, cid, title, mid, role, updated, origin in rows:
        in_content, in_thinking = snippets.get(seq, ("", ""))
        field = "content" if marks[0] in in_content else "thinking"
        snippet = in_content if field == "content" else in_thinking
        hits.append(SearchHit(cid, title, mid, field, role, snippet, rank_of[seq], updated, origin))
    return hits


def _best_messages(
    db: Db, match: str, short_terms: list[str], limit: int
) -> tuple[dict[int, float], list[tuple]]:
    """The bm25 score of the best candidates by message seq, and the rows of those that
    are not in the trash and hold every short term: (seq, conversation id, title,
    message id, role, updated_at, origin).

    Ranking reads only the index (rowid and bm25), over the newest ``RANK_WINDOW``
    matches when there are more; rows and the trash filter are fetched for the best few
    only. When the trash or the short terms drop candidates, it asks the index for more
    (and widens the window).
    """
    short_params = [p for t in short_terms for p in (_like(t), _like(t))]
    short_sql = "".join(
        " AND (m.content LIKE ? ESCAPE '\\' OR m.thinking LIKE ? ESCAPE '\\')" for _ in short_terms
    )
    want, window = limit * 2 + 10, RANK_WINDOW
    while True:
        rank_of, windowed = _ranked(db, match, window, want)
        if not rank_of:
            return {}, []
        marks_sql = ", ".join("?" for _ in rank_of)
        rows = db.read(
            f"""
            SELECT m.seq, c.id, c.title, m.id, m.role, c.updated_at, c.origin
            FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE m.seq IN ({marks_sql}) AND c.deleted_at IS NULL{short_sql}
            """,
            [*rank_of, *short_params],
        )
        if len(rows) >= limit:
            return rank_of, rows
        if len(rank_of) == want:  # the trash or short terms dropped some: ask for more
            want *= 4
        elif windowed:  # every match in the window was used: widen it
            window *= 4
        else:
            return rank_of, rows


def _ranked(db: Db, match: str, window: int, want: int) -> tuple[dict[int, float], bool]:
    """The ``want`` best bm25 scores by rowid among the newest ``window`` matches, and
    whether there were more matches than the window."""
    # bm25 over every match of a very common term costs ~ its whole doclist: rank
    # only the newest ``window`` matches (the rowid of the window-th newest bounds it).
    cut = db.read(
        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? "
        "ORDER BY rowid DESC LIMIT 1 OFFSET ?",
        [match, window - 1],
    )
    bound = " AND rowid >= ?" if cut else ""
    ranked = db.read(
        f"SELECT rowid, bm25(messages_fts, {CONTENT_WEIGHT}, {THINKING_WEIGHT}) AS score "
        f"FROM messages_fts WHERE messages_fts MATCH ?{bound} ORDER BY score LIMIT ?",
        [match, *(cut[0] if cut else ()), want],
    )
    return dict(ranked), bool(cut)


def _snippets(
    db: Db, match: str, seqs: list[int], marks: tuple[str, str]
) -> dict[int, tuple[str, str]]:
    """The content and thinking snippets of the messages ``seqs``, by seq."""
    open_, close = marks
    rows = db.read(
        f"""
        SELECT rowid, snippet(messages_fts, 0, ?, ?, '…', ?),
            snippet(messages_fts, 1, ?, ?, '…', ?)
        FROM messages_fts WHERE messages_fts MATCH ? AND rowid IN ({", ".join("?" for _ in seqs)})
        """,
        [open_, close, SNIPPET_TOKENS, open_, close, SNIPPET_TOKENS, match, *seqs],
    )
    return {seq: (a, b) for seq, a, b in rows}
