"""Export (JSON, Markdown) and import: round trip, malformed files, atomic writes."""

from __future__ import annotations

import copy
import json
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
from seedchat.settings import ChatSettings
from seedchat.store import (
    Store,
    export_json,
    export_markdown,
    import_json,
    write_export,
)


def fill(store: Store) -> list[str]:
    """Two conversations with thinking, reflect reports, stats, branches and a partial answer."""
    settings = ChatSettings(
        budget=512,
        enforcement="hard",
        temperature=1.1,
        top_p=0.95,
        system_prompt="Answer in English.",
    ).to_record()
    a = store.create_conversation(model="Seed-OSS-36B-Instruct-Q4_K_M.gguf", settings=settings)
    q = store.add_message(a.id, "user", "How many legs does a spider have? 蜘蛛有几条腿？")
    rec = store.record_stream(a.id, q.id, settings, model="m")
    rec.on_event(Notice("budget kept at 512", kind="budget"))
    rec.on_event(ThinkingStart())
    rec.on_event(ThinkingDelta("Spiders are arachnids. ", tokens=6))
    rec.on_event(
        Reflect(
            6, 506, False, "I have used 6 tokens, and there are 506 tokens remaining for use.", 7
        )
    )
    rec.on_event(ThinkingDelta("Eight legs.", tokens=10))
    rec.on_event(
        Reflect(
            None,
            None,
            True,
            "I have exhausted my token budget, and now I will start answering the question.",
            11,
            injected=True,
        )
    )
    rec.on_event(ThinkingEnd(tokens=11, seconds=0.4, forced=True))
    rec.on_event(AnswerDelta("Eight. 八条。"))
    rec.on_event(
        Done(
            "stop",
            prompt_tokens=40,
            evaluated_prompt_tokens=12,
            generated_tokens=25,
            thinking_tokens=11,
            seconds=2.0,
            time_to_first_token=0.35,
            tokens_per_second=12.5,
            prompt_tokens_per_second=300.0,
        )
    )
    regen = store.regenerate(rec.message_id)
    regen.on_event(AnswerDelta("8 legs | *pipes* and <tags> & stuff"))
    regen.on_event(ToolCall("count", {"what": "legs"}, raw="<seed:tool_call>x</seed:tool_call>"))
    regen.on_event(Done("length", generated_tokens=9))
    store.switch_branch(rec.message_id)  # the first answer stays active

    b = store.create_conversation(title="Unfinished")
    q = store.add_message(b.id, "user", "write a poem")
    partial = store.record_stream(b.id, q.id, flush_interval=3600)
    partial.on_event(AnswerDelta("Roses are"))
    partial.flush()  # as if the app had crashed here
    store.rename(b.id, "Unfinished poem")
    return [a.id, b.id]


def without_time(export: dict) -> dict:
    out = copy.deepcopy(export)
    out.pop("exported_at")
    return out


def test_json_round_trip_is_exact(tmp_path: Path):
    with Store(tmp_path / "one.db") as one:
        ids = fill(one)
        one.delete(ids[1])  # in the trash: exported with trash=True, and restored as such
        path = tmp_path / "export.json"
        exported = export_json(one, trash=True)
        write_export(one, path)  # the default: all conversations not in the trash
        assert [c["id"] for c in json.loads(path.read_text())["conversations"]] == [ids[0]]
        path.write_text(json.dumps(exported, ensure_ascii=False))
        before = {cid: one.get_conversation(cid) for cid in ids}
        every = {cid: one.messages(cid) for cid in ids}
    with Store(tmp_path / "two.db") as two:
        result = import_json(two, path)
        assert sorted(result.imported) == sorted(ids) and result.messages == 5
        assert without_time(export_json(two, trash=True)) == without_time(exported)
        for cid in ids:
            assert two.get_conversation(cid) == before[cid]
            assert two.messages(cid) == every[cid]
        assert [c.id for c in two.list_conversations(trash=True)] == [ids[1]]
        # Imported text is searchable, answers and thinking alike.
        assert {h.field for h in two.search("arachnids")} == {"thinking"}
        # The same file again adds nothing.
        again = import_json(two, path)
        assert again.imported == [] and sorted(again.skipped) == sorted(ids)
        assert two.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 5


def test_exported_data_is_lossless(tmp_path: Path):
    with Store(tmp_path / "s.db") as s:
        ids = fill(s)
        data = export_json(s)
    conv = next(c for c in data["conversations"] if c["id"] == ids[0])
    first, second = (m for m in conv["messages"] if m["role"] == "assistant")
    assert first["thinking"] == "Spiders are arachnids. Eight legs."
    assert [r["raw"][:13] for r in first["reflects"]] == ["I have used 6", "I have exhaus"]
    assert first["reflects"][1]["injected"] is True and first["reflects"][0]["true_count"] == 7
    assert first["thinking_tokens"] == 11
    assert first["stats"]["prompt_tokens_per_second"] == 300.0
    assert first["stats"]["thinking_forced"] is True
    assert second["parent_id"] == first["parent_id"]  # branches kept
    assert second["tool_calls"][0]["arguments"] == {"what": "legs"}
    assert conv["current_leaf"] == first["id"]
    poem = next(c for c in data["conversations"] if c["id"] == ids[1])
    assert poem["messages"][1]["status"] == "partial"
    assert poem["title"] == "Unfinished poem" and poem["title_is_auto"] is False


def test_markdown_export_is_readable(tmp_path: Path):
    with Store(tmp_path / "s.db") as s:
        ids = fill(s)
        md = export_markdown(s, ids)
        out = write_export(s, tmp_path / "chats.md")
    assert out.read_text() == md
    assert md.startswith("# How many legs does a spider have? 蜘蛛有几条腿？\n")
    assert "- model: Seed-OSS-36B-Instruct-Q4_K_M.gguf" in md
    assert "- settings: thinking budget 512 (hard), temperature 1.1, top_p 0.95" in md
    assert "- system prompt: Answer in English." in md
    assert "<details>\n<summary>Thinking (11 tokens)</summary>\n\nSpiders are arachnids." in md
    assert (
        "> ⏱ I have used 6 tokens, and there are 506 tokens remaining for use. (true count 7)" in md
    )
    assert "(true count 11, by seedchat)" in md
    assert "## Assistant (version 1 of 2)" in md
    assert "Eight. 八条。" in md and "8 legs" not in md  # only the active branch
    assert "*25 tokens · 12.5 tokens/s · first token 0.35 s · stop*" in md
    assert "\n---\n\n# Unfinished poem\n" in md
    assert "Roses are" in md and "partial" in md


def test_export_replaces_a_file_atomically(tmp_path: Path):
    target = tmp_path / "out.json"
    target.write_text("old export")
    with Store(tmp_path / "s.db") as s:
        fill(s)
        # An export that fails (an unknown conversation) leaves the old file as it was.
        with pytest.raises(StoreError):
            write_export(s, target, ids=["0" * 32])
        assert target.read_text() == "old export"
        write_export(s, target)
    assert json.loads(target.read_text())["format"] == "seedchat-conversations"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no leftovers


def _good(tmp_path: Path) -> dict:
    with Store(tmp_path / "src.db") as s:
        fill(s)
        return export_json(s)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: d.pop("format"), "not a seedchat conversations export"),
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d.update(conversations={}), "must be a list"),
        (lambda d: d["conversations"][1].pop("id"), r"conversations\[1\] has no 'id'"),
        (lambda d: d["conversations"][1]["messages"][1].update(role="robot"), "role 'robot'"),
        (lambda d: d["conversations"][1]["messages"][1].update(status="done"), "status 'done'"),
        (
            lambda d: d["conversations"][0]["messages"][1].update(content=7),
            r"messages\[1\]\.content",
        ),
        (lambda d: d["conversations"][1]["messages"][1].update(parent_id="f" * 32), "parent_id"),
        (lambda d: d["conversations"][0].update(current_leaf="nope"), "current_leaf"),
        (
            lambda d: d["conversations"][1].update(origin="web"),
            r"conversations\[1\]\.origin 'web' is not one of app, api",
        ),
        (lambda d: d["conversations"][0].update(origin=None), r"conversations\[0\]\.origin"),
        (
            lambda d: d["conversations"][1]["messages"].append(
                d["conversations"][1]["messages"][0]
            ),
            "appears twice",
        ),
    ],
)
def test_malformed_import_imports_nothing(tmp_path: Path, breakage, message):
    data = _good(tmp_path)
    breakage(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with Store(tmp_path / "dst.db") as s:
        keep = s.create_conversation(title="already here")
        with pytest.raises(StoreError, match=message) as info:
            import_json(s, bad)
        assert "Nothing was imported" in info.value.message and info.value.hint
        assert [c.id for c in s.list_conversations(trash=True)] == []
        assert [c.id for c in s.list_conversations()] == [keep.id]
        assert s.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_import_that_fails_in_the_middle_rolls_back(tmp_path: Path):
    data = _good(tmp_path)
    with Store(tmp_path / "dst.db") as s:
        # The second conversation's first message id is already used by another
        # conversation: found only while writing, after the first one was inserted.
        c = s.create_conversation(title="mine")
        s.conn.execute("BEGIN IMMEDIATE")
        s.conn.execute(
            "INSERT INTO messages (id, conversation_id, role, content, created_at, updated_at) "
            "VALUES (?, ?, 'user', 'x', 0, 0)",
            [data["conversations"][1]["messages"][0]["id"], c.id],
        )
        s.conn.execute("COMMIT")
        with pytest.raises(StoreError, match="already stored"):
            import_json(s, data)
        assert s.count_conversations() == 1
        assert s.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_not_json_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "notes.json"
    bad.write_text("{ this is not json")
    with Store(tmp_path / "s.db") as s:
        with pytest.raises(StoreError, match="not valid JSON") as info:
            import_json(s, bad)
        assert "export --format json" in info.value.hint
        with pytest.raises(StoreError, match="Cannot read"):
            import_json(s, tmp_path / "missing.json")


def test_origin_round_trips_and_markdown_says_api(tmp_path: Path):
    with Store(tmp_path / "one.db") as one:
        app_id, _ = fill(one)
        api = one.create_conversation(title="From a client", origin="api")
        one.add_message(api.id, "user", "hello from curl")
        one.add_message(api.id, "assistant", "hello")
        data = export_json(one)
        md = export_markdown(one, [api.id, app_id])
    origins = {c["id"]: c["origin"] for c in data["conversations"]}
    assert origins[api.id] == "api" and origins[app_id] == "app"
    api_md, app_md = md.split("\n---\n")
    assert "- from: the API\n" in api_md and "from:" not in app_md
    with Store(tmp_path / "two.db") as two:
        assert import_json(two, data).messages == 7
        assert two.conversation(api.id).origin == "api"
        assert {c.id: c.origin for c in two.list_conversations()}[app_id] == "app"
        assert without_time(export_json(two)) == without_time(data)
        # An imported API conversation is continued like one saved by the API.
        turns = [("user", "hello from curl"), ("assistant", "hello"), ("user", "again")]
        assert two.find_continued(turns)[0] == api.id


def test_an_export_made_before_origins_imports_as_the_apps(tmp_path: Path):
    data = _good(tmp_path)
    for conv in data["conversations"]:
        conv.pop("origin")  # as seedchat wrote exports before origins existed
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    with Store(tmp_path / "dst.db") as s:
        result = import_json(s, old)
        assert len(result.imported) == 2
        assert [s.conversation(cid).origin for cid in result.imported] == ["app", "app"]
