"""Store operations, the stream recorder and search, on a real SQLite file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from seedchat.errors import StoreError
from seedchat.events import (
    AnswerDelta,
    Done,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.paths import get_paths
from seedchat.settings import ChatSettings
from seedchat.store import TRASH_SECONDS, Store, title_from_text

SETTINGS = ChatSettings(
    budget=512, enforcement="hard", temperature=1.1, top_p=0.95, system_prompt="Be brief."
).to_record()


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "seedchat.db") as s:
        yield s


def stream(recorder, thinking: str, answer: str, budget_report: bool = True) -> None:
    """Feed a recorder the events an engine produces for one answer."""
    recorder.on_event(Notice("budget rounded to 512", kind="budget"))
    recorder.on_event(ThinkingStart())
    recorder.on_event(ThinkingDelta(thinking[: len(thinking) // 2], tokens=3))
    if budget_report:
        recorder.on_event(
            Reflect(
                used=3,
                remaining=509,
                exhausted=False,
                raw="I have used 3 tokens, and there are 509 tokens remaining for use.",
                true_count=4,
            )
        )
    recorder.on_event(ThinkingDelta(thinking[len(thinking) // 2 :], tokens=7))
    recorder.on_event(ThinkingEnd(tokens=8, seconds=0.25))
    for word in answer.split(" "):
        recorder.on_event(AnswerDelta(word + " "))
    recorder.on_event(
        Done(
            "stop",
            prompt_tokens=30,
            generated_tokens=20,
            thinking_tokens=8,
            seconds=1.5,
            time_to_first_token=0.3,
            tokens_per_second=15.5,
        )
    )


def test_default_store_lives_in_the_data_directory():
    with Store() as s:
        assert s.path == get_paths().database
        s.create_conversation(title="x")
    assert get_paths().database.is_file()
    with Store() as s:
        assert [c.title for c in s.list_conversations()] == ["x"]


def test_wal_mode_and_busy_timeout(store: Store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_create_and_get(store: Store):
    conv = store.create_conversation(model="seed-oss-36b.gguf", settings=SETTINGS)
    got = store.get_conversation(conv.id)
    assert got.model == "seed-oss-36b.gguf"
    assert got.settings == SETTINGS
    assert got.messages == [] and got.title == "" and got.title_is_auto


def test_user_message_then_recorded_answer(store: Store):
    conv = store.create_conversation(model="m")
    q = store.add_message(conv.id, "user", "What is a thinking budget?\nSecond line.")
    assert store.message(q.id).content.startswith("What is")
    rec = store.record_stream(conv.id, q.id, SETTINGS, model="m")
    assert store.message(rec.message_id).status == "partial"
    stream(rec, "Let me think about budgets.", "A cap on thinking tokens.")
    assert rec.finished
    got = store.get_conversation(conv.id)
    assert got.title == "What is a thinking budget?"  # auto-titled from the question
    assert [m.role for m in got.messages] == ["user", "assistant"]
    a = got.messages[1]
    assert a.parent_id == q.id
    assert a.content == "A cap on thinking tokens. "
    assert a.thinking == "Let me think about budgets."
    assert a.status == "complete" and a.finish_reason == "stop"
    assert a.thinking_tokens == 8
    assert a.reflects == [
        {
            "used": 3,
            "remaining": 509,
            "exhausted": False,
            "raw": "I have used 3 tokens, and there are 509 tokens remaining for use.",
            "true_count": 4,
            "injected": False,
            "offset": len("Let me think about budgets.") // 2,
        }
    ]
    assert a.stats["generated_tokens"] == 20
    assert a.stats["tokens_per_second"] == 15.5
    assert a.stats["time_to_first_token"] == 0.3
    assert a.stats["thinking_seconds"] == 0.25
    assert a.notices == [{"text": "budget rounded to 512", "kind": "budget"}]
    assert a.settings == SETTINGS and a.model == "m"
    assert got.settings == SETTINGS  # the conversation remembers the settings last used


def test_recorder_tool_calls_and_statuses(store: Store):
    conv = store.create_conversation()
    q = store.add_message(conv.id, "user", "weather?")
    rec = store.record_stream(conv.id, q.id)
    rec.on_event(ToolCall("get_weather", {"city": "Beijing"}, raw="<seed:tool_call>…"))
    rec.on_event(Done("length", generated_tokens=5))
    m = store.message(rec.message_id)
    assert m.tool_calls == [
        {"name": "get_weather", "arguments": {"city": "Beijing"}, "raw": "<seed:tool_call>…"}
    ]
    assert m.status == "complete" and m.finish_reason == "length"

    rec = store.regenerate(m.id)
    rec.on_event(AnswerDelta("half an ans"))
    rec.on_event(Done("cancelled"))
    assert store.message(rec.message_id).status == "cancelled"

    with store.regenerate(m.id) as rec:
        rec.on_event(AnswerDelta("stopped by the user"))
    stopped = store.message(rec.message_id)
    assert (stopped.status, stopped.content) == ("cancelled", "stopped by the user")

    with pytest.raises(RuntimeError), store.regenerate(m.id) as rec:
        rec.on_event(AnswerDelta("boom"))
        raise RuntimeError("llama.cpp failed")
    failed = store.message(rec.message_id)
    assert failed.status == "error" and "llama.cpp failed" in failed.error
    assert failed.content == "boom"


def test_recorder_flushes_periodically_off_the_caller(store: Store):
    conv = store.create_conversation()
    q = store.add_message(conv.id, "user", "count")
    rec = store.record_stream(conv.id, q.id, flush_interval=0.5)
    t0 = time.perf_counter()
    for i in range(50):
        rec.on_event(AnswerDelta(f"{i} "))
    cost = time.perf_counter() - t0
    assert cost < 0.1  # on_event only appends to memory
    if time.perf_counter() - t0 < 0.4:  # (a very loaded machine may already have flushed)
        assert store.message(rec.message_id).content == ""  # nothing written yet
    deadline = time.monotonic() + 10
    while store.message(rec.message_id).content == "" and time.monotonic() < deadline:
        time.sleep(0.05)
    partial = store.message(rec.message_id)
    assert partial.content == "".join(f"{i} " for i in range(50))
    assert partial.status == "partial"
    n = rec.flush_count
    assert n == 1
    time.sleep(1.2)
    assert rec.flush_count == n  # no new events: no more writes
    rec.on_event(AnswerDelta("end"))
    rec.finish("complete")
    assert store.message(rec.message_id).content.endswith("49 end")


def test_list_is_newest_first_and_paged(store: Store):
    ids = []
    for i in range(7):
        c = store.create_conversation(title=f"c{i}")
        ids.append(c.id)
        store.add_message(c.id, "user", f"q{i}")
    store.add_message(ids[2], "user", "again")  # c2 becomes the most recent
    page1 = store.list_conversations(limit=3)
    page2 = store.list_conversations(limit=3, offset=3)
    page3 = store.list_conversations(limit=3, offset=6)
    titles = [c.title for c in page1 + page2 + page3]
    assert titles == ["c2", "c6", "c5", "c4", "c3", "c1", "c0"]
    assert page1[0].message_count == 2 and page1[1].message_count == 1
    assert store.count_conversations() == 7


def test_rename_and_the_first_question_as_title(store: Store):
    c = store.create_conversation()
    long_q = "Explain " + "the thinking budget of Seed-OSS " * 5
    store.add_message(c.id, "user", long_q)
    title = store.get_conversation(c.id).title
    assert title.startswith("Explain the thinking budget") and title.endswith("…")
    assert len(title) <= 61
    store.rename(c.id, "  Budgets   explained ")
    assert store.get_conversation(c.id).title == "Budgets explained"
    store.add_message(c.id, "user", "Another question")
    assert store.get_conversation(c.id).title == "Budgets explained"  # the user's title wins
    with pytest.raises(StoreError):
        store.rename(c.id, "   ")
    c2 = store.create_conversation()
    store.add_message(c2.id, "system", "You are helpful.")
    store.add_message(c2.id, "user", "\n\n  你好，世界  \nmore")
    assert store.get_conversation(c2.id).title == "你好，世界"  # the question, not the system
    assert title_from_text("short") == "short"


def test_delete_to_trash_restore_and_purge(store: Store):
    keep = store.create_conversation(title="keep")
    gone = store.create_conversation(title="gone")
    store.add_message(gone.id, "user", "unique words zebra")
    store.delete(gone.id)
    assert [c.title for c in store.list_conversations()] == ["keep"]
    assert [c.title for c in store.list_conversations(trash=True)] == ["gone"]
    assert store.search("zebra") == []  # trashed conversations are not searched
    store.restore(gone.id)
    assert {c.title for c in store.list_conversations()} == {"keep", "gone"}
    assert len(store.search("zebra")) == 1
    with pytest.raises(StoreError, match="not in the trash"):
        store.restore(gone.id)

    store.delete(gone.id)
    assert store.purge_trash() == 0  # not old enough
    assert store.purge_trash(now=time.time() + TRASH_SECONDS + 1) == 1
    with pytest.raises(StoreError, match="no conversation"):
        store.get_conversation(gone.id)
    assert store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert store.get_conversation(keep.id).title == "keep"


def test_trash_is_purged_on_open(tmp_path: Path):
    path = tmp_path / "s.db"
    with Store(path) as s:
        c = s.create_conversation(title="old")
        s.delete(c.id)
        s.conn.execute(
            "UPDATE conversations SET deleted_at = ?", [time.time() - TRASH_SECONDS - 60]
        )
        s.conn.commit()
        d = s.create_conversation(title="recent")
        s.delete(d.id)
    with Store(path) as s:
        assert [c.title for c in s.list_conversations(trash=True)] == ["recent"]


def test_regenerate_edit_and_switch_branch(store: Store):
    c = store.create_conversation()
    q1 = store.add_message(c.id, "user", "first question")
    r = store.record_stream(c.id, q1.id)
    r.on_event(AnswerDelta("answer A"))
    r.on_event(Done("stop"))
    a1 = r.message
    q2 = store.add_message(c.id, "user", "follow-up")
    r = store.record_stream(c.id, q2.id)
    r.on_event(AnswerDelta("follow-up answer"))
    r.on_event(Done("stop"))

    r = store.regenerate(a1.id)
    r.on_event(AnswerDelta("answer B"))
    r.on_event(Done("stop"))
    conv = store.get_conversation(c.id)
    assert [m.content for m in conv.messages] == ["first question", "answer B"]
    assert (conv.messages[1].sibling_index, conv.messages[1].sibling_count) == (1, 2)
    assert [m.content for m in store.siblings(a1.id)] == ["answer A", "answer B"]

    conv = store.switch_branch(a1.id)  # back to A, down to its newest leaf
    assert [m.content for m in conv.messages] == [
        "first question",
        "answer A",
        "follow-up",
        "follow-up answer",
    ]
    assert store.get_conversation(c.id).current_leaf == conv.messages[-1].id

    edited = store.edit_message(q1.id, "first question, edited")
    conv = store.get_conversation(c.id)
    assert [m.content for m in conv.messages] == ["first question, edited"]
    assert edited.parent_id is None and conv.messages[0].sibling_count == 2
    assert len(store.messages(c.id)) == 6  # nothing was lost on the way
    with pytest.raises(StoreError, match="Only an answer"):
        store.regenerate(q1.id)


def test_resolve_id_prefixes(store: Store):
    c = store.create_conversation(title="x")
    assert store.resolve_id(c.id[:6]) == c.id
    assert store.resolve_id(c.id.upper()[:8]) == c.id
    with pytest.raises(StoreError, match="not a conversation id"):
        store.resolve_id("zz")
    with pytest.raises(StoreError, match="no conversation"):
        store.resolve_id("0000000000")


# -- search --------------------------------------------------------------------


@pytest.fixture
def corpus(store: Store) -> dict[str, str]:
    ids = {}
    data = [
        (
            "Rust lifetimes",
            "How do lifetimes work?",
            "Borrowing rules first.",
            "Lifetimes name scopes.",
        ),
        (
            "大语言模型",
            "什么是思考预算？",
            "用户问的是思考预算，我要解释。",
            "思考预算限制模型思考的长度。",
        ),
        (
            "Cooking",
            "How long to boil an egg?",
            "An egg, eggs, boiling.",
            "Nine minutes for a hard egg.",
        ),
        ("AI chat", "Is AI safe?", "", "It depends."),
    ]
    for title, q, thinking, answer in data:
        c = store.create_conversation(title=title)
        u = store.add_message(c.id, "user", q)
        r = store.record_stream(c.id, u.id)
        r.on_event(ThinkingDelta(thinking, tokens=5))
        r.on_event(AnswerDelta(answer))
        r.on_event(Done("stop"))
        ids[title] = c.id
    return ids


def test_search_english_ranked_with_snippets(store: Store, corpus):
    hits = store.search("egg")
    assert {h.conversation_id for h in hits} == {corpus["Cooking"]}
    # The answer (egg four times, thinking included) ranks above the question (once).
    assert [(h.role, h.field) for h in hits] == [("assistant", "content"), ("user", "content")]
    assert hits[0].rank < hits[1].rank
    assert all("<mark>egg</mark>" in h.snippet.lower() for h in hits)
    assert hits == sorted(hits, key=lambda h: h.rank)

    hits = store.search("LIFETIMES")  # case-insensitive, titles too
    assert {h.field for h in hits} == {"title", "content"}
    assert all(h.conversation_id == corpus["Rust lifetimes"] for h in hits)
    assert store.search("lifetimes egg") == []  # all terms must be in one message
    assert store.search("lifetimes borrowing")[0].role == "assistant"  # answer + thinking
    assert store.search("nothing-like-this") == []
    assert store.search("   ") == []


def test_search_chinese(store: Store, corpus):
    hits = store.search("思考预算")
    assert {h.conversation_id for h in hits} == {corpus["大语言模型"]}
    assert sorted(h.role for h in hits) == ["assistant", "user"]
    assert all("<mark>思考预算</mark>" in h.snippet for h in hits)
    (hit,) = store.search("我要解释")
    assert hit.field == "thinking" and hit.snippet == "用户问的是思考预算，<mark>我要解释</mark>。"
    # Two characters: shorter than a trigram, found by the LIKE fallback.
    hits = store.search("模型")
    assert {h.conversation_id for h in hits} == {corpus["大语言模型"]}
    assert any(h.field == "title" for h in hits)
    assert all("<mark>模型</mark>" in h.snippet for h in hits)
    assert store.search("模型 思考预算")[0].conversation_id == corpus["大语言模型"]
    assert store.search("咖啡") == []


def test_search_short_english_terms_and_quotes(store: Store, corpus):
    hits = store.search("AI")
    assert {h.conversation_id for h in hits} == {corpus["AI chat"]}
    # FTS5 syntax in a query is taken as plain text, never as an error.
    assert {h.conversation_id for h in store.search('"egg"')} == {corpus["Cooking"]}
    assert store.search('egg" OR "x') == []
    assert store.search("NEAR(egg") == []
    assert store.search("*") == []


def test_search_ranks_a_very_common_term_among_the_newest(store: Store, monkeypatch):
    import seedchat.store.search as search_module

    monkeypatch.setattr(search_module, "RANK_WINDOW", 3)
    c = store.create_conversation(title="many")
    ids = [store.add_message(c.id, "user", f"common term number {i}").id for i in range(10)]
    hits = store.search("common", limit=2)
    assert len(hits) == 2 and {h.message_id for h in hits} <= set(ids[-3:])
    assert {h.message_id for h in store.search("common", limit=50)} == set(ids)
    # Trashed matches filling the window do not hide the older ones: it widens.
    d = store.create_conversation(title="newer")
    for i in range(5):
        store.add_message(d.id, "user", f"common again {i}")
    store.delete(d.id)
    hits = store.search("common", limit=2)
    assert len(hits) == 2 and {h.message_id for h in hits} <= set(ids)


# -- origin and find_continued -------------------------------------------------------


def test_create_and_list_with_origin(store: Store):
    app = store.create_conversation(title="from the page")
    api = store.create_conversation(title="from a client", origin="api")
    assert (app.origin, api.origin) == ("app", "api")
    assert store.get_conversation(api.id).origin == "api"
    assert store.conversation(app.id).origin == "app"
    listed = {c.id: c.origin for c in store.list_conversations()}
    assert listed == {app.id: "app", api.id: "api"}
    store.delete(api.id)
    assert [(c.id, c.origin) for c in store.list_conversations(trash=True)] == [(api.id, "api")]


def test_an_unknown_origin_is_refused(store: Store):
    with pytest.raises(StoreError, match="Unknown conversation origin 'web'; one of app, api"):
        store.create_conversation(origin="web")
    with pytest.raises(StoreError, match="one of app, api"):
        store.find_continued([("user", "hi")], origin="API")
    assert store.count_conversations() == 0


def saved_chat(store: Store, turns: list[tuple[str, str]], origin: str = "api") -> str:
    """A conversation holding ``turns`` as its active branch; its id."""
    conv = store.create_conversation(origin=origin)
    for role, content in turns:
        store.add_message(conv.id, role, content)
    return conv.id


CHAT = [
    ("system", "Be brief."),
    ("user", "What is 2+3?"),
    ("assistant", "5"),
    ("user", "And times 4?"),
    ("assistant", "20"),
]


def test_find_continued_exact_prefix(store: Store):
    cid = saved_chat(store, CHAT)
    leaf = store.conversation(cid).current_leaf
    assert store.find_continued([*CHAT, ("user", "Minus 1?")]) == (cid, leaf, 5)
    # The whole conversation sent again (a retry) continues it too.
    assert store.find_continued(CHAT) == (cid, leaf, 5)
    # Shorter than what is saved: the saved branch is not a prefix of it.
    assert store.find_continued(CHAT[:3]) is None
    # Content is compared exactly as stored.
    assert store.find_continued([*CHAT[:2], ("assistant", "5 "), *CHAT[3:]]) is None
    assert store.find_continued([*CHAT[:2], ("assistant", "5"), ("user", "and times 4?")]) is None
    # A role differs.
    assert store.find_continued([("user", "Be brief."), *CHAT[1:]]) is None
    assert store.find_continued([]) is None


def test_find_continued_longest_match_wins(store: Store):
    long = saved_chat(store, CHAT)
    short = saved_chat(store, CHAT[:3])  # newer, but matches fewer turns
    request = [*CHAT, ("user", "Minus 1?")]
    assert store.find_continued(request)[0] == long
    assert store.find_continued([*CHAT[:3], ("user", "Other?")])[0] == short
    # Of two equally long matches, the most recently updated one.
    twin = saved_chat(store, CHAT)
    assert store.find_continued(request)[0] == twin
    store.add_message(long, "user", "Minus 1?")  # now the longest, and newest
    found = store.find_continued([*request, ("assistant", "19")])
    assert found[0] == long and found[2] == 6


def test_find_continued_ignores_other_origins_and_the_trash(store: Store):
    saved_chat(store, CHAT, origin="app")
    assert store.find_continued([*CHAT, ("user", "x")]) is None
    assert store.find_continued([*CHAT, ("user", "x")], origin="app") is not None
    api = saved_chat(store, CHAT)
    assert store.find_continued([*CHAT, ("user", "x")])[0] == api
    store.delete(api)
    assert store.find_continued([*CHAT, ("user", "x")]) is None
    store.restore(api)
    assert store.find_continued([*CHAT, ("user", "x")])[0] == api
    empty = store.create_conversation(origin="api")  # no messages: continues nothing
    assert store.find_continued([("user", "hi")]) is None
    assert store.count_conversations() == 3 and empty.current_leaf is None


def test_find_continued_a_diverging_branch_is_not_a_prefix(store: Store):
    cid = saved_chat(store, CHAT)
    first_answer = store.get_conversation(cid).messages[2]
    # Regenerating the first answer makes a new active branch: system, question, "five".
    rec = store.regenerate(first_answer.id)
    rec.on_event(AnswerDelta("five"))
    rec.on_event(Done("stop"))
    assert store.find_continued([*CHAT, ("user", "Minus 1?")]) is None
    found = store.find_continued([*CHAT[:2], ("assistant", "five"), ("user", "Why?")])
    assert found == (cid, rec.message_id, 3)
    # Back on the old branch, the old conversation is a prefix again.
    store.switch_branch(first_answer.id)
    assert store.find_continued([*CHAT, ("user", "Minus 1?")])[0] == cid
    # Same last message, different earlier turn: not a prefix.
    other = [*CHAT[:1], ("user", "What is 1+4?"), *CHAT[2:]]
    assert store.find_continued([*other, ("user", "Minus 1?")]) is None


def test_find_continued_among_200_conversations(store: Store):
    ids = []
    for i in range(200):
        turns = [
            ("system", "Be brief."),
            ("user", f"Question {i % 7}: " + "why? " * 200),
            ("assistant", f"Answer {i}. " + "because " * 500),
            ("user", "Thanks!"),
            ("assistant", f"You are welcome, number {i}."),
        ]
        ids.append((saved_chat(store, turns, origin="api" if i % 4 else "app"), turns))
    target, turns = ids[-30]  # among the 50 most recent API conversations, not the newest
    request = [*turns, ("user", "One more thing.")]
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    start = time.perf_counter()
    found = store.find_continued(request)
    elapsed = time.perf_counter() - start
    store.conn.set_trace_callback(None)
    assert found == (target, store.conversation(target).current_leaf, 5)
    # A fixed number of queries, whatever the number of conversations; measured ~2 ms.
    assert len(statements) <= 4, statements
    assert elapsed < 0.5
    # An API conversation older than the 50 most recent is not looked at, unless asked.
    old, old_turns = ids[1]
    assert store.find_continued([*old_turns, ("user", "?")]) is None
    assert store.find_continued([*old_turns, ("user", "?")], recent=200)[0] == old
