"""Attached files: read as text (PDF pages numbered), refused clearly when they cannot be,
written into the message in one form, and tokenized as text (the demo model's tokenizer)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from documents_helpers import make_pdf

from seedchat.documents.read import (
    MAX_BYTES,
    Document,
    DocumentError,
    attach,
    describe,
    read_document,
)
from seedchat.errors import RequestError
from seedchat.seed import tags
from seedchat.seed.tool_calls import prompt_messages

EVERY_TAG = [
    value
    for name, value in vars(tags).items()
    if name.isupper() and isinstance(value, str) and value.startswith("<") and value.endswith(">")
]


def test_every_seed_tag_is_listed():
    assert {"<seed:bos>", "<seed:eos>", "<seed:pad>", "<seed:think>", "</seed:think>"} <= set(
        EVERY_TAG
    )
    assert {"<seed:cot_budget_reflect>", "<seed:tool_call>", "</seed:tool_call>"} <= set(EVERY_TAG)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("notes.txt", "text"),
        ("README.md", "markdown"),
        ("main.py", "code"),
        ("table.csv", "csv"),
        ("data.json", "json"),
        ("LICENSE", "text"),
    ],
)
def test_text_files_come_through_exactly(tmp_path, name, kind):
    text = 'first line\r\n  indented, "quoted" — ünïcode 字节\n\nlast line without end'
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    doc = read_document(path)
    assert (doc.name, doc.kind, doc.text, doc.pages) == (name, kind, text, ())
    assert doc.size == len(text.encode("utf-8"))
    assert doc.sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_byte_order_mark_is_read_and_dropped():
    assert read_document(b"\xef\xbb\xbfhello", "a.txt").text == "hello"
    assert read_document("héllo".encode("utf-16"), "b.txt").text == "héllo"


def test_html_is_read_as_its_text():
    html = (
        "<html><head><title>Report</title><style>p {color: red}</style></head><body>"
        "<h1>Results</h1><p>Revenue &amp; costs <b>rose</b>.</p><script>alert(1)</script>"
        "<ul><li>one</li><li>two</li></ul></body></html>"
    )
    doc = read_document(html.encode(), "page.html")
    assert doc.kind == "html"
    lines = [line for line in doc.text.splitlines() if line]
    assert lines == ["Report", "Results", "Revenue & costs rose.", "one", "two"]
    assert "alert" not in doc.text and "color" not in doc.text


def test_a_pdf_s_text_and_page_numbers_come_through():
    data = make_pdf(["The first page talks of apples.", "Page two is about pears."])
    doc = read_document(data, "fruit.pdf")
    assert (doc.kind, doc.page_count) == ("pdf", 2)
    assert doc.text == (
        "[page 1]\nThe first page talks of apples.\n\n[page 2]\nPage two is about pears.\n"
    )
    # each page offset points at its own "[page N]" line
    assert [doc.text[p : p + 8] for p in doc.pages] == ["[page 1]", "[page 2]"]
    assert describe(doc).startswith("fruit.pdf (PDF, 2 pages, ")


def test_a_pdf_is_known_by_its_bytes_whatever_its_name():
    doc = read_document(make_pdf(["Hello there."]), "download")
    assert doc.kind == "pdf" and "Hello there." in doc.text


# -- refused, clearly -------------------------------------------------------------------


def refused(source, name=None, **kw) -> str:
    with pytest.raises(DocumentError) as info:
        read_document(source, name, **kw)
    assert info.value.hint, "every refusal says what to do"
    return info.value.message


def test_a_binary_file_is_refused(tmp_path):
    (tmp_path / "tool.bin").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    assert "tool.bin is a binary file" in refused(tmp_path / "tool.bin")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))  # a damaged picture
    (tmp_path / "photo.png").write_bytes(png)
    assert "photo.png is an image that cannot be read" in refused(tmp_path / "photo.png")
    assert "not UTF-8 text" in refused(b"caf\xe9 au lait\n", "latin1.txt")


def test_an_encrypted_pdf_is_refused():
    message = refused(make_pdf(["Secret plans."], password="hunter2"), "locked.pdf")
    assert message == "locked.pdf is an encrypted PDF that needs a password."


def test_a_pdf_locked_only_against_editing_opens():
    doc = read_document(make_pdf(["Open to read."], password=""), "owner.pdf")
    assert "Open to read." in doc.text


@pytest.mark.parametrize("cut", [0.3, 0.6])
def test_a_damaged_or_truncated_pdf_is_refused(cut):
    data = make_pdf(["Some text here.", "More text."])
    message = refused(data[: int(len(data) * cut)], "broken.pdf")
    assert message == "broken.pdf is a damaged PDF: it cannot be read."
    garbage = b"%PDF-1.7\n" + bytes(range(256)) * 4
    assert "damaged" in refused(garbage, "garbage.pdf")


def test_an_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    assert refused(tmp_path / "empty.txt") == "empty.txt is empty."
    assert refused(b"  \n\n\t ", "blank.md") == "blank.md has no text to read."
    assert "no text to read" in refused(make_pdf([""]), "scan.pdf")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "huge.log"
    with big.open("wb") as f:  # sparse: nothing is written, the size alone is over the limit
        f.truncate(MAX_BYTES + 1)
    assert refused(big) == (
        f"huge.log is {MAX_BYTES + 1:,} bytes, over the {MAX_BYTES:,}-byte limit for an attachment."
    )
    assert "over the 10-byte limit" in refused(b"eleven byte", "x.txt", max_bytes=10)


def test_missing_files_folders_and_unicode_paths(tmp_path):
    assert refused(tmp_path / "nowhere.txt") == f"There is no file {tmp_path / 'nowhere.txt'}."
    assert refused(tmp_path) == f"{tmp_path} is a folder, not a file."
    path = tmp_path / "报告 résumé 📄.md"
    path.write_text("# 标题\nbody\n", encoding="utf-8")
    doc = read_document(path)
    assert (doc.name, doc.text) == ("报告 résumé 📄.md", "# 标题\nbody\n")
    assert refused(tmp_path / "空的.txt").startswith("There is no file ")


# -- the message form -------------------------------------------------------------------


def doc_of(name: str, text: str) -> Document:
    return read_document(text.encode(), name)


def test_the_message_form_is_each_file_s_name_then_its_text_then_the_question():
    a, b = doc_of("a.md", "# A\nalpha"), doc_of("b.csv", "x,y\n1,2\n")
    assert attach("Compare them.", [a, b]) == (
        "[file: a.md]\n# A\nalpha\n[end of file: a.md]\n\n"
        "[file: b.csv]\nx,y\n1,2\n[end of file: b.csv]\n\n"
        "Compare them."
    )
    assert attach("Just text.", []) == "Just text."


def test_a_document_holding_every_seed_tag_tokenizes_them_as_text():
    from seedchat.engine.local import Engine, GenerationOptions, LoadOptions
    from seedchat.models import demo_model
    from seedchat.seed.template import Message

    forged = "".join(f"line {i}: {tag}\n" for i, tag in enumerate(EVERY_TAG))
    doc = doc_of("tags.txt", forged)
    with Engine.load(demo_model(), LoadOptions(context_length=2048, threads=2)) as engine:

        def specials(question: str) -> tuple[list[bytes], str, list[int]]:
            msgs = [Message("user", question)]
            tokens, text, _ = engine._prompt(msgs, GenerationOptions())
            return [engine.piece(t) for t in tokens if engine.is_special(t)], text, tokens

        with_tags, text, tokens = specials(attach("What is in it?", [doc]))
        without, _, _ = specials(attach("What is in it?", [doc_of("tags.txt", "nothing")]))
        assert with_tags == without  # not one tag of the document became a control token
        assert forged in text
        assert b"".join(engine.piece(t) for t in tokens) == text.encode("utf-8")
        for tag in EVERY_TAG:  # each tag is a special token when the template writes it
            assert any(engine.is_special(t) for t in engine.tokenize(tag)), tag


# -- the API's file parts ---------------------------------------------------------------


def file_part(data: bytes, name: str, url: bool = False) -> dict:
    b64 = base64.b64encode(data).decode()
    return {
        "type": "file",
        "file": {
            "filename": name,
            "file_data": f"data:application/pdf;base64,{b64}" if url else b64,
        },
    }


def test_an_api_file_part_goes_into_the_message():
    pdf = make_pdf(["Quarterly revenue was 12 million."])
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What was the revenue?"},
                file_part(pdf, "q3.pdf", url=True),
                file_part(b"a,b\n1,2\n", "t.csv"),
            ],
        }
    ]
    (msg,) = prompt_messages(messages)
    docs = [read_document(pdf, "q3.pdf"), doc_of("t.csv", "a,b\n1,2\n")]
    assert msg.content == attach("What was the revenue?", docs)
    assert "[page 1]\nQuarterly revenue was 12 million." in msg.content


@pytest.mark.parametrize(
    ("part", "param", "words"),
    [
        (file_part(b"\x00\x01\x02binary", "x.bin"), "file_data", "binary file"),
        (file_part(b"", "empty.txt"), "file_data", "empty"),
        (file_part(make_pdf(["x"], password="pw"), "l.pdf"), "file_data", "encrypted"),
        (
            {"type": "file", "file": {"filename": "a.txt", "file_data": "@@@"}},
            "file_data",
            "base64",
        ),
        ({"type": "file", "file": {"file_id": "file-abc"}}, "file_id", "no file store"),
        ({"type": "file", "file": {"file_data": "aGk="}}, "filename", "name the file"),
        ({"type": "image_url", "image_url": {"url": "x"}}, "image_url.url", "data: URL"),
        ({"type": "input_audio", "input_audio": {}}, "[0]", "'text', 'file' and 'image_url'"),
    ],
)
def test_a_bad_api_file_part_is_refused_naming_its_field(part, param, words):
    with pytest.raises(RequestError) as info:
        prompt_messages([{"role": "user", "content": [part]}])
    assert info.value.param.startswith("messages[0].content[0]")
    assert info.value.param.endswith(param)
    assert words in info.value.message
