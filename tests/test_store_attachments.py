"""Attached files in the store: kept once by hash, on their message, in JSON export and
import whole, in Markdown by name and size, found by search, deleted with the last
conversation that used them (a real SQLite file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from documents_helpers import make_pdf

from seedchat.documents.read import read_document
from seedchat.errors import StoreError
from seedchat.store import Store, conversation_markdown, export_json, import_json
from seedchat.store.attachments import stored_attachment_count


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "seedchat.db") as s:
        yield s


def files():
    pdf = read_document(make_pdf(["Zanzibar spice report.", "Cloves and nutmeg."]), "spice.pdf")
    notes = read_document(b"# Notes\nThe quokka is a small marsupial.\n", "notes.md")
    return pdf, notes


def ask(store: Store, question: str, docs, conv_id: str | None = None) -> tuple[str, str]:
    conv_id = conv_id or store.create_conversation().id
    msg = store.add_message(conv_id, "user", question, attachments=docs)
    store.add_message(conv_id, "assistant", "An answer.")
    return conv_id, msg.id


def test_a_question_keeps_its_files_in_order(store):
    pdf, notes = files()
    conv_id, mid = ask(store, "Summarize both.", [pdf, notes])
    conv = store.get_conversation(conv_id)
    assert conv.messages[0].attachments == [pdf, notes]
    assert conv.messages[0].content == "Summarize both."  # the text is stored once, apart
    assert conv.messages[1].attachments == []
    assert store.message(mid).attachments == [pdf, notes]
    assert [m.attachments for m in store.messages(conv_id)] == [[pdf, notes], []]


def test_the_same_file_twice_is_stored_once(store):
    pdf, notes = files()
    renamed = read_document(make_pdf(["Zanzibar spice report.", "Cloves and nutmeg."]), "copy.pdf")
    assert renamed.sha256 == pdf.sha256
    conv_id, _ = ask(store, "One.", [pdf, notes])
    ask(store, "Two.", [renamed], conv_id)
    ask(store, "Three.", [pdf])
    assert stored_attachment_count(store.db) == 2
    names = [d.name for m in store.messages(conv_id) for d in m.attachments]
    assert names == ["spice.pdf", "notes.md", "copy.pdf"]  # each under its own name


def test_an_edited_question_keeps_its_files(store):
    pdf, _ = files()
    _, mid = ask(store, "Original.", [pdf])
    edited = store.edit_message(mid, "Edited.")
    assert store.message(edited.id).attachments == [pdf]
    bare = store.edit_message(mid, "Without it.", attachments=[])
    assert store.message(bare.id).attachments == []


def test_deleting_a_conversation_deletes_the_files_only_it_used(store):
    pdf, notes = files()
    first, _ = ask(store, "One.", [pdf, notes])
    second, _ = ask(store, "Two.", [pdf])
    store.delete(first)
    assert stored_attachment_count(store.db) == 2  # in the trash: undo brings them back
    store.restore(first)
    assert store.get_conversation(first).messages[0].attachments == [pdf, notes]
    store.delete(first)
    assert store.purge_trash(older_than=0) == 1
    assert stored_attachment_count(store.db) == 1  # the PDF: the second still uses it
    assert store.get_conversation(second).messages[0].attachments == [pdf]
    store.delete(second)
    store.purge_trash(older_than=0)
    assert stored_attachment_count(store.db) == 0
    assert store.conn.execute("SELECT count(*) FROM attachments_fts").fetchone()[0] == 0


def test_files_round_trip_through_json_export_and_import(store, tmp_path):
    pdf, notes = files()
    conv_id, _ = ask(store, "Summarize both.", [pdf, notes])
    data = export_json(store)
    exported = data["conversations"][0]["messages"][0]["attachments"]
    assert [(f["name"], f["size"], f["sha256"]) for f in exported] == [
        (pdf.name, pdf.size, pdf.sha256),
        (notes.name, notes.size, notes.sha256),
    ]
    assert exported[0]["text"] == pdf.text and exported[0]["pages"] == list(pdf.pages)
    with Store(tmp_path / "other.db") as other:
        result = import_json(other, data)
        assert result.imported == [conv_id]
        assert other.get_conversation(conv_id).messages[0].attachments == [pdf, notes]
        assert export_json(other)["conversations"] == data["conversations"]  # lossless
        assert stored_attachment_count(other.db) == 2


def test_an_export_with_a_malformed_file_imports_nothing(store, tmp_path):
    pdf, _ = files()
    ask(store, "Q.", [pdf])
    data = export_json(store)
    data["conversations"][0]["messages"][0]["attachments"][0]["size"] = "big"
    with Store(tmp_path / "other.db") as other:
        with pytest.raises(StoreError, match=r"attachments\[0\]\.size"):
            import_json(other, data)
        assert other.count_conversations() == 0


def test_markdown_names_the_files_and_their_sizes(store):
    pdf, notes = files()
    conv_id, _ = ask(store, "Summarize both.", [pdf, notes])
    md = conversation_markdown(store.get_conversation(conv_id))
    assert f"Attached: `spice.pdf` ({pdf.size:,} bytes)" in md
    assert f"Attached: `notes.md` ({notes.size} bytes)" in md
    assert "quokka" not in md  # by name and size, not the text


def test_search_finds_a_file_s_text(store):
    pdf, notes = files()
    conv_id, mid = ask(store, "Summarize.", [pdf, notes])
    (hit,) = store.search("quokka marsupial")
    assert (hit.conversation_id, hit.message_id, hit.field) == (conv_id, mid, "attachment")
    assert hit.snippet.startswith("notes.md: ") and "<mark>quokka</mark>" in hit.snippet
    (hit,) = store.search("nutmeg")
    assert hit.snippet.startswith("spice.pdf: ")
    store.delete(conv_id)
    assert store.search("quokka") == []  # not from the trash
