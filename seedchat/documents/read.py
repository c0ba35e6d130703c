"""Files a user attaches, read as text, and the one form they take in a message.

:func:`read_document` reads a file (a path, or bytes with a file name) into a
:class:`Document`: its name, kind, text, where each PDF page starts, its size and the
sha256 of its bytes (the store keeps each attachment once by that hash). The kinds:

- text, Markdown, code, CSV and JSON: UTF-8 (a UTF-8 or UTF-16 byte-order mark is read
  and dropped); the text is kept exactly as it is, line ends included;
- HTML: its text (the standard library's ``html.parser``; scripts and styles left out,
  block elements on lines of their own);
- PDF: the text of each page (pypdf, pure Python), each page opened by a line
  ``[page N]`` so the model and the user can name pages; ``Document.pages`` holds the
  offset in ``text`` where each page's line starts. A page with no text layer (fewer than
  :data:`~seedchat.documents.ocr.MIN_TEXT_CHARS` characters: a scan) is read by OCR from
  its images, and its line says so: ``[page N, read by OCR]``, or
  ``[page N, read by OCR: no text could be read]``;
- an image (PNG, JPEG, WebP): its text by OCR, after a line ``[image, read by OCR]``
  (:mod:`seedchat.documents.ocr`; an image with no text it can read is refused).

Reading by OCR takes seconds a page: ``progress(done, pages)`` is called after each page,
and a set ``cancel`` stops the reading (a DocumentError that says so).

A file that is binary, encrypted, damaged, empty or over :data:`MAX_BYTES` raises
:class:`DocumentError`, which says which file and what to do; nothing else changes.

:func:`attach` writes the documents into the user's message, in this stable form (each
file's name, then its text, then the question)::

    [file: notes.md]
    …the file's text, exactly…
    [end of file: notes.md]

    What does it say about X?

The text is tokenized as text (:mod:`seedchat.seed.prompt_tokens`): a document holding
``<seed:eos>`` or ``<seed:think>`` gives the tokens of those characters, never the tags.
docs/documents.md describes the whole of it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from seedchat.documents.ocr import MIN_TEXT_CHARS, images_text, open_image
from seedchat.errors import SeedchatError

log = logging.getLogger(__name__)

#: The largest file that is read (bytes): far beyond a 512K-token context as text.
MAX_BYTES = 32 * 1024 * 1024

KINDS = ("text", "markdown", "code", "csv", "json", "html", "pdf", "image")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
_BY_SUFFIX = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
}
_CODE_SUFFIXES = set(
    [
        ".py",
        ".pyi",
        ".js",
        ".jsx",
        ".ts",
        ".tsx",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".cs",
        ".java",
        ".kt",
        ".go",
        ".rs",
        ".rb",
        ".php",
        ".swift",
        ".m",
        ".scala",
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
        ".sql",
        ".r",
        ".lua",
        ".pl",
        ".hs",
        ".ml",
        ".ex",
        ".exs",
        ".erl",
        ".clj",
        ".dart",
        ".vue",
        ".css",
        ".scss",
        ".toml",
        ".yaml",
        ".yml",
        ".ini",
        ".cfg",
        ".xml",
        ".gradle",
        ".cmake",
        ".mk",
        ".dockerfile",
    ]
)
_PAGE_LINE = "[page {n}]"
OCR_MARK = "read by OCR"
_OCR_PAGE_LINE = "[page {n}, " + OCR_MARK + "]"
_UNREAD_PAGE_LINE = "[page {n}, " + OCR_MARK + ": no text could be read]"
_IMAGE_LINE = "[image, " + OCR_MARK + "]"

Progress = Callable[[int, int], None]


class DocumentError(SeedchatError):
    """A file that cannot be attached: the message names it and says why."""


@dataclass(frozen=True)
class Document:
    """A file's text. ``pages``: for a PDF, the offset in ``text`` where each page starts
    (its ``[page N]`` line); empty for other kinds. ``size``: the file's bytes."""

    name: str
    kind: str
    text: str
    size: int
    sha256: str
    pages: tuple[int, ...] = ()

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def ocr_pages(self) -> tuple[int, ...]:
        """The pages read by OCR (1 for an image), from their lines in the text (so a
        stored or imported document says it too)."""
        if self.kind == "image":
            return (1,)
        lines = (self.text[start : self.text.find("\n", start)] for start in self.pages)
        return tuple(n for n, line in enumerate(lines, 1) if OCR_MARK in line)


def read_document(
    source: str | Path | bytes,
    name: str | None = None,
    max_bytes: int = MAX_BYTES,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    ocr: bool = True,
) -> Document:
    """The file at ``source`` (a path) or the bytes ``source`` (named ``name``) as a
    :class:`Document`; :class:`DocumentError` when it cannot be attached. ``ocr=False``
    leaves scanned pages empty and refuses images (a quick look, as a search wants)."""
    if isinstance(source, bytes):
        data = source
        name = name or "attachment.txt"
        _check_size(name, len(data), max_bytes)
    else:
        path = Path(source).expanduser()
        name = name or path.name
        data = _read_file(path, max_bytes)
    if not data:
        raise DocumentError(f"{name} is empty.", hint="Attach a file that has some text.")
    kind = kind_of(name, data)
    if kind == "pdf":
        text, pages = _pdf_text(name, data, _Ocr(progress, cancel) if ocr else None)
    elif kind == "image":
        text, pages = _image_text(name, data, ocr, progress, cancel), ()
    else:
        text, pages = _decode(name, data), ()
    if kind == "html":
        text = html_text(text)
    if not text.strip():
        raise DocumentError(
            f"{name} has no text to read.",
            hint="Its pages hold no text that OCR could read either."
            if kind == "pdf"
            else "Attach a file that has some text.",
        )
    digest = hashlib.sha256(data).hexdigest()
    return Document(name, kind, text, len(data), digest, tuple(pages))


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DocumentError(
            f"{name} is {size:,} bytes, over the {max_bytes:,}-byte limit for an attachment.",
            hint="Attach a part of it, or the text you need from it.",
        )


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        if path.is_dir():
            raise DocumentError(f"{path} is a folder, not a file.", hint="Attach its files.")
        _check_size(path.name, path.stat().st_size, max_bytes)
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(f"There is no file {path}.", hint="Check the path.") from exc
    except PermissionError as exc:
        raise DocumentError(
            f"{path} cannot be read: permission denied.", hint="Check its permissions."
        ) from exc
    except OSError as exc:
        raise DocumentError(f"{path} cannot be read: {exc.strerror or exc}.") from exc


def kind_of(name: str, data: bytes) -> str:
    """The kind of a file, from its name's suffix (and a PDF's first bytes)."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return "image"
    suffix = Path(name).suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        return "image"
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    return "code" if suffix in _CODE_SUFFIXES else "text"


def _decode(name: str, data: bytes) -> str:
    """UTF-8 (or UTF-16 with its byte-order mark) text; DocumentError for a binary file."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    elif b"\x00" not in data[:8192]:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            if _looks_textual(data):
                raise DocumentError(
                    f"{name} is not UTF-8 text (byte {exc.start:,} is not UTF-8).",
                    hint="Save it as UTF-8 and attach it again.",
                ) from exc
    raise DocumentError(
        f"{name} is a binary file (an archive or a program?), not text.",
        hint="Attach text, Markdown, code, CSV, JSON, HTML, PDF or image (PNG, JPEG, WebP) files.",
    )


def _looks_textual(data: bytes) -> bool:
    sample = data[:8192]
    controls = sum(1 for b in sample if b < 32 and b not in b"\t\n\r\f")
    return controls <= len(sample) // 100


# -- PDF ---------------------------------------------------------------------------------


@dataclass
class _Ocr:
    """How a PDF's scanned pages are read: the progress callback and the cancel."""

    progress: Progress | None
    cancel: threading.Event | None

    def page(self, name: str, page, number: int) -> str:
        if self.cancel is not None and self.cancel.is_set():
            raise DocumentError(f"Reading {name} was cancelled.", hint="Attach it again.")
        images = []
        for image in page.images:
            try:
                images.append(image.image)
            except Exception as exc:  # pypdf raises many kinds for an odd image
                log.info("%s page %d: an image pypdf cannot decode: %r", name, number, exc)
        return images_text([i for i in images if i is not None])


def _image_text(name, data, ocr, progress, cancel) -> str:
    image = open_image(data) if ocr else None
    if image is None:
        raise DocumentError(
            f"{name} is an image that cannot be read."
            if ocr
            else f"{name} is an image (read only when attached).",
            hint="Attach a PNG, JPEG or WebP picture of text.",
        )
    if cancel is not None and cancel.is_set():
        raise DocumentError(f"Reading {name} was cancelled.", hint="Attach it again.")
    text = images_text([image])
    if progress is not None:
        progress(1, 1)
    if not text.strip():
        raise DocumentError(
            f"{name}: OCR found no text in this image.",
            hint="Attach a sharper picture of the text, or the text itself.",
        )
    return f"{_IMAGE_LINE}\n{text}\n"


def _page_piece(n: int, text: str, by_ocr: bool) -> str:
    if not by_ocr:
        line = _PAGE_LINE.format(n=n)
    else:
        line = (_OCR_PAGE_LINE if text.strip() else _UNREAD_PAGE_LINE).format(n=n)
    return line + "\n" + text.strip("\n") + "\n"


def _pdf_text(name: str, data: bytes, ocr: _Ocr | None = None) -> tuple[str, list[int]]:
    """Each page's text after its ``[page N]`` line (a scanned page's by ``ocr``); the
    offsets where pages start."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    damaged = DocumentError(
        f"{name} is a damaged PDF: it cannot be read.",
        hint="Open it in a PDF reader and save it again, or export it as text.",
    )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not _opens_without_password(reader):
            raise FileNotDecryptedError("a password is needed")
        pieces = []
        total = len(reader.pages)
        for n, page in enumerate(reader.pages, 1):
            text = page.extract_text() or ""
            by_ocr = ocr is not None and len(text.strip()) < MIN_TEXT_CHARS
            if by_ocr:
                text = ocr.page(name, page, n)
            pieces.append((text, _page_piece(n, text, by_ocr)))
            if ocr is not None and ocr.progress is not None:
                ocr.progress(n, total)
    except (FileNotDecryptedError, DependencyError) as exc:
        raise DocumentError(
            f"{name} is an encrypted PDF that needs a password.",
            hint="Save a copy without the password and attach that.",
        ) from exc
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        log.info("could not read the PDF %s: %r", name, exc)
        raise damaged from exc
    if not pieces:
        raise damaged
    if not any(text.strip() for text, _ in pieces):
        return "", []
    starts = [0]
    for _, piece in pieces[:-1]:
        starts.append(starts[-1] + len(piece) + 1)  # the blank line between pages
    return "\n".join(piece for _, piece in pieces), starts


def _opens_without_password(reader) -> bool:
    """Whether an encrypted PDF opens with the empty user password (owner-only locks)."""
    try:
        return bool(reader.decrypt(""))
    except Exception as exc:
        log.info("the PDF does not open without a password: %r", exc)
        return False


# -- HTML --------------------------------------------------------------------------------

_BLOCKS = set(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "nav",
        "aside",
        "hr",
        "dt",
        "dd",
        "title",
        "figure",
        "figcaption",
        "main",
        "form",
    ]
)
_SKIPPED = {"script", "style", "noscript", "template"}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data)


def html_text(html: str) -> str:
    """An HTML page's text: scripts and styles left out, blocks on lines of their own."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.out).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


# -- the message form --------------------------------------------------------------------


def file_block(document: Document) -> str:
    """One document as it stands in a message: its name, then its text exactly."""
    text = document.text if document.text.endswith("\n") else document.text + "\n"
    return f"[file: {document.name}]\n{text}[end of file: {document.name}]\n"


def attach(question: str, documents: Sequence[Document]) -> str:
    """The user's message with ``documents``: each file's block, then the question."""
    if not documents:
        return question
    blocks = "\n".join(file_block(doc) for doc in documents)
    return f"{blocks}\n{question}" if question else blocks


def detach(message: str, documents: Sequence[Document]) -> str:
    """The question of a message :func:`attach` wrote with ``documents`` (the message
    itself when it does not start with their blocks)."""
    if not documents:
        return message
    blocks = "\n".join(file_block(doc) for doc in documents)
    if message == blocks:
        return ""
    return message[len(blocks) + 1 :] if message.startswith(blocks + "\n") else message


def describe(document: Document) -> str:
    """A document in a few words: ``notes.pdf (PDF, 3 pages, 12,410 bytes)``."""
    kind = "PDF" if document.kind == "pdf" else document.kind
    pages = f", {document.page_count} pages" if document.page_count else ""
    ocr = ocr_words(document)
    return (
        f"{document.name} ({kind}{pages}{', ' + ocr if ocr else ''}, {size_words(document.size)})"
    )


def ocr_words(document: Document) -> str:
    """What of ``document`` was read by OCR, in words ("" when nothing was):
    ``read by OCR`` (an image), ``pages 2, 5 read by OCR`` (a PDF)."""
    scanned = document.ocr_pages
    if document.kind == "image" or not scanned:
        return OCR_MARK if scanned else ""
    pages = ("page " if len(scanned) == 1 else "pages ") + ", ".join(map(str, scanned))
    return f"{pages} {OCR_MARK}"


def size_words(size: int) -> str:
    """A file's size as the chat and the exports say it: ``12,410 bytes``."""
    return f"{size:,} bytes" if size != 1 else "1 byte"
