"""Files attached in the page: the message box's uploads read as documents.

The message box (a ``gr.MultimodalTextbox``: its upload button, a file dragged onto it, a
file pasted into it) holds ``{"text": …, "files": [paths]}``; gradio keeps each upload
under its own name in a folder of its own, so a path's last part is the name the user's
file had. :func:`read_uploads` reads each with :func:`seedchat.documents.read.read_document`
(as ``--file`` and ``/file`` do in the terminal); a file that cannot be attached raises
its :class:`~seedchat.documents.read.DocumentError`, and :func:`refused` splits the files that
can from the first one that cannot, so the page shows that error and drops that file
only. A file is read once per upload (:class:`UploadCache`), not at every key typed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seedchat.documents.read import Document, DocumentError, read_document

#: The page's script for a file pasted into the message box: gradio's box takes a pasted
#: image only, so any other pasted file (a document copied in a file manager) is handed
#: to the box's own upload input, as if chosen with its paperclip button.
PASTE_JS = """
() => {
  if (window.seedchatPaste) return [];
  window.seedchatPaste = true;
  document.addEventListener("paste", (event) => {
    const box = event.target.closest?.("#message");
    const files = Array.from(event.clipboardData?.files || []);
    const documents = files.filter((f) => !f.type.startsWith("image/"));
    const input = box?.querySelector("input[type=file]");
    if (!documents.length || !input) return;
    event.preventDefault();
    event.stopPropagation();
    const data = new DataTransfer();
    documents.forEach((f) => data.items.add(f));
    input.files = data.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }, true);
  return [];
}
"""

#: Uploads kept read (by path) while they wait in the message box.
CACHED_UPLOADS = 64


class UploadCache:
    """Documents read from uploads, by path (the newest :data:`CACHED_UPLOADS`)."""

    def __init__(self, size: int = CACHED_UPLOADS) -> None:
        self.size = size
        self._docs: OrderedDict[str, Document] = OrderedDict()
        self._lock = threading.Lock()
        self.reading: dict[str, tuple[int, int]] = {}  # path → (pages read, pages), meanwhile
        self.cancel = threading.Event()  # set: the reads in progress stop (a DocumentError)

    def has(self, path: str) -> bool:
        with self._lock:
            return path in self._docs

    def progress_words(self) -> str:
        """The reads in progress in words: ``Reading scan.pdf: page 2 of 5…``."""
        return " · ".join(
            f"Reading {Path(path).name}: page {done + 1} of {pages}…"
            if done < pages
            else f"Reading {Path(path).name}…"
            for path, (done, pages) in list(self.reading.items())
        )

    def read(self, path: str) -> Document:
        """The upload at ``path`` as a document; DocumentError when it cannot be attached
        (or its reading was cancelled: scans and pictures are read by OCR, seconds a page)."""
        with self._lock:
            if path in self._docs:
                self._docs.move_to_end(path)
                return self._docs[path]

        def progress(done: int, pages: int) -> None:
            self.reading[path] = (done, pages)

        self.reading[path] = (0, 0)
        try:
            doc = read_document(path, name=Path(path).name, progress=progress, cancel=self.cancel)
        finally:
            self.reading.pop(path, None)
        with self._lock:
            self._docs[path] = doc
            while len(self._docs) > self.size:
                self._docs.popitem(last=False)
        return doc


def message_parts(value: Any) -> tuple[str, list[str]]:
    """The message box's text and its files' paths (a plain string: text alone)."""
    if isinstance(value, dict):
        return str(value.get("text") or ""), [str(p) for p in value.get("files") or []]
    return str(value or ""), []


def message_value(text: str, files: Sequence[str] = ()) -> dict[str, Any]:
    """A value for the message box."""
    return {"text": text, "files": list(files)}


def read_uploads(cache: UploadCache, paths: Sequence[str]) -> list[Document]:
    """Every upload as a document, in order; the first that cannot be read raises."""
    return [cache.read(path) for path in paths]


def refused(
    cache: UploadCache, paths: Sequence[str]
) -> tuple[list[str], list[Document], DocumentError | None]:
    """The paths that can be attached and their documents, and the error of the first
    one that cannot (None when all can); the refused files are left out."""
    kept: list[str] = []
    docs: list[Document] = []
    error: DocumentError | None = None
    for path in paths:
        try:
            docs.append(cache.read(path))
        except DocumentError as err:
            error = error or err
            continue
        kept.append(path)
    return kept, docs, error
