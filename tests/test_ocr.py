"""OCR where a file has no text: scanned PDF pages and pictures, read with RapidOCR's
models from its wheel (pictures drawn by the tests with Pillow; the real OCR runs)."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading

import pytest
from PIL import Image

from seedchat.documents import read as read_module
from seedchat.documents.read import DocumentError, describe, ocr_words, read_document
from seedchat.seed.tool_calls import prompt_messages
from seedchat.store.attachments import attachment_from_dict, attachment_to_dict
from seedchat.tools.builtin.files import FilesTool
from seedchat.ui.render import file_chip
from tests.documents_helpers import (
    PARAGRAPH,
    assert_words,
    image_bytes,
    joined_pdf,
    make_pdf,
    scanned_pdf,
    text_image,
)

SCAN = ["Lighthouse keepers counted", "seventeen seagulls yesterday"]


@pytest.fixture(scope="module")
def scan() -> bytes:
    return scanned_pdf(SCAN)


@pytest.fixture(scope="module")
def paragraph_png() -> bytes:
    return image_bytes(text_image(PARAGRAPH))


def test_an_image_only_pdf_is_read_by_ocr_and_says_so(scan):
    done = []
    doc = read_document(scan, "scan.pdf", progress=lambda d, n: done.append((d, n)))
    assert doc.text.startswith("[page 1, read by OCR]\n")
    assert_words(doc.text, SCAN)
    assert doc.ocr_pages == (1,) and done == [(1, 1)]
    assert describe(doc) == f"scan.pdf (PDF, 1 pages, page 1 read by OCR, {doc.size:,} bytes)"
    assert "page 1 read by OCR" in file_chip(doc)


def test_a_mixed_pdf_reads_only_its_image_page_by_ocr(scan, monkeypatch):
    pdf = joined_pdf(make_pdf(["Alpha page about harbours"]), scan, make_pdf(["Gamma rivers"]))
    read_pages: list[int] = []
    real = read_module.images_text

    def counted(images):
        read_pages.append(len(images))
        return real(images)

    monkeypatch.setattr(read_module, "images_text", counted)
    done = []
    doc = read_document(pdf, "mixed.pdf", progress=lambda d, n: done.append((d, n)))
    assert read_pages == [1]  # one page's one picture, no other page
    assert doc.text.startswith("[page 1]\nAlpha page about harbours\n\n[page 2, read by OCR]\n")
    assert doc.text.endswith("[page 3]\nGamma rivers\n")
    assert doc.ocr_pages == (2,) and ocr_words(doc) == "page 2 read by OCR"
    assert done == [(1, 3), (2, 3), (3, 3)]
    # stored and exported, the document still says which page was read by OCR
    assert attachment_from_dict(attachment_to_dict(doc)).ocr_pages == (2,)


def test_a_page_ocr_cannot_read_is_said():
    blank = image_bytes(Image.new("1", (600, 300), 1), "PDF")
    doc = read_document(joined_pdf(make_pdf(["Some real text here"]), blank), "b.pdf")
    assert doc.text.endswith("[page 2, read by OCR: no text could be read]\n\n")
    assert doc.ocr_pages == (2,)
    with pytest.raises(DocumentError, match="OCR found no text"):
        read_document(image_bytes(Image.new("RGB", (300, 200), "white")), "white.png")


def test_reading_is_cancelled_between_pages(scan):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DocumentError, match="cancelled"):
        read_document(joined_pdf(make_pdf(["First page text"]), scan), "s.pdf", cancel=cancel)


def test_a_png_jpeg_and_webp_of_a_paragraph_are_read(paragraph_png):
    doc = read_document(paragraph_png, "para.png")
    assert doc.kind == "image" and doc.text.startswith("[image, read by OCR]\n")
    assert_words(doc.text, PARAGRAPH)
    assert describe(doc).startswith("para.png (image, read by OCR, ")
    for format, name in (("JPEG", "p.jpg"), ("WEBP", "p.webp")):
        data = image_bytes(text_image(PARAGRAPH[:1]), format)
        assert_words(read_document(data, name).text, PARAGRAPH[:1])


def test_the_api_reads_an_image_part_and_an_image_file_by_ocr(paragraph_png, scan):
    b64 = base64.b64encode(paragraph_png).decode()
    parts = [
        {"type": "text", "text": "What does it say?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}},
        {
            "type": "file",
            "file": {"filename": "scan.pdf", "file_data": base64.b64encode(scan).decode()},
        },
    ]
    (message,) = prompt_messages([{"role": "user", "content": parts}])
    assert message.content.startswith("[file: image-1.png]\n[image, read by OCR]\n")
    assert "[file: scan.pdf]\n[page 1, read by OCR]\n" in message.content
    assert_words(message.content, PARAGRAPH + SCAN)
    assert message.content.endswith("What does it say?")


def test_the_files_tool_reads_a_scan_by_ocr(tmp_path, scan):
    (tmp_path / "scan.pdf").write_bytes(scan)
    text = FilesTool([tmp_path]).read_file("scan.pdf")
    assert_words(text, SCAN)


def test_seedchat_chat_show_prompt_has_the_words_of_a_png_and_a_scan(
    cli_env, tmp_path, paragraph_png, scan
):
    (tmp_path / "para.png").write_bytes(paragraph_png)
    (tmp_path / "scan.pdf").write_bytes(scan)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "seedchat", "chat", "--show-prompt", "--no-tools"),
            *("--file", str(tmp_path / "para.png"), "--file", str(tmp_path / "scan.pdf")),
            "Sum up",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "[file: para.png]\n[image, read by OCR]\n" in done.stdout
    assert "[file: scan.pdf]\n[page 1, read by OCR]\n" in done.stdout
    assert_words(done.stdout, PARAGRAPH + SCAN)
    assert "scan.pdf: page 1 read by OCR" in done.stderr
