"""The built-in ``files`` tool: ``list_files(path)``, ``read_file(path)`` and
``search_files(query)`` inside the folders the person chose (``seedchat tools enable files
--folder DIR``), and nowhere else.

A path is relative to the chosen folder (with several folders, it may start with a
folder's name; an absolute path must lie inside one of them). Refused, before anything is
opened: a ``..`` part, an absolute path outside the folders, and any path whose real place
(symbolic links followed) is outside them. Files are read with the attachments' readers
(:func:`seedchat.documents.read.read_document`: text, code, HTML, PDF with its pages); a
text longer than the tool result's room is cut and says so.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePath
from typing import Any

from seedchat.documents.read import Document, DocumentError, read_document
from seedchat.tools.builtin.spec import function_spec, one_argument_call
from seedchat.tools.protocol import ToolOutcome

log = logging.getLogger(__name__)

MAX_LISTED = 500  # entries one list_files shows
MAX_SEARCHED = 2000  # files one search_files reads
MAX_SEARCH_BYTES = 8 * 1024 * 1024  # a larger file is left out of a search
MAX_HITS = 50


SPECS = [
    function_spec(
        "list_files",
        "List the files and folders at a path inside the user's chosen folders "
        "('' or '.' for the top).",
        "path",
        "a path relative to the chosen folder",
    ),
    function_spec(
        "read_file",
        "Read a file inside the user's chosen folders as text (text, code, HTML, PDF).",
        "path",
        "a path relative to the chosen folder",
    ),
    function_spec(
        "search_files",
        "Find the files inside the user's chosen folders whose text contains the words "
        "of the query (case-insensitive); returns each match's file, line or page, and text.",
        "query",
        "the words to look for",
    ),
]


class PathRefused(Exception):
    """A path outside the chosen folders (the message says why, for the model)."""


class FilesTool:
    """The files tool over ``folders`` (absolute); ``max_chars`` is the room of a result."""

    def __init__(self, folders: Sequence[Path], max_chars: int = 16384) -> None:
        self.folders = [Path(f).resolve() for f in folders]
        self.max_chars = max_chars

    def specs(self) -> list[dict[str, Any]]:
        return list(SPECS)

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        actions: dict[str, tuple[str, Callable[[str, threading.Event], str]]] = {
            "list_files": ("path", self.list_files),
            "read_file": ("path", self.read_file),
            "search_files": ("query", self.search_files),
        }
        if name not in actions:
            return ToolOutcome(f"Unknown tool: {name}", is_error=True)
        key, action = actions[name]

        def run(value: str) -> tuple[str, bool]:
            try:
                return action(value, cancel), False
            except (PathRefused, DocumentError, OSError) as err:
                return f"Error: {_message(err)}", True

        return one_argument_call(name, arguments, run, name, key, empty_ok=key == "path")

    # -- paths --------------------------------------------------------------------------

    def resolve(self, path: str) -> tuple[Path, Path]:
        """The real place of ``path`` and the chosen folder it is in; PathRefused else."""
        if not self.folders:
            raise PathRefused("no folder is chosen for the files tool.")
        given = PurePath(path.strip() or ".")
        if ".." in given.parts:
            raise PathRefused(f"{path!r}: '..' is not allowed; paths stay inside the folders.")
        candidates = [Path(given)] if given.is_absolute() else self._relative(given)
        for candidate in candidates:
            real = candidate.resolve()
            folder = self._folder_of(real)
            if folder is None:
                continue
            if real.exists() or candidate == candidates[-1]:
                return real, folder
        raise PathRefused(f"{path!r} is outside the folders the user chose ({self._names()}).")

    def _relative(self, given: PurePath) -> list[Path]:
        by_name = [f for f in self.folders if given.parts and f.name == given.parts[0]]
        tails = [f.joinpath(*given.parts[1:]) for f in by_name]
        return tails + [f / given for f in self.folders]

    def _folder_of(self, real: Path) -> Path | None:
        return next((f for f in self.folders if real == f or real.is_relative_to(f)), None)

    def _names(self) -> str:
        return ", ".join(str(f) for f in self.folders)

    def shown(self, real: Path, folder: Path) -> str:
        """How a path is shown to the model: relative to its folder (with the folder's
        name in front when there are several)."""
        inside = real.relative_to(folder).as_posix()
        if len(self.folders) > 1:
            return f"{folder.name}/{inside}" if inside != "." else folder.name
        return inside

    # -- the tools ----------------------------------------------------------------------

    def list_files(self, path: str, cancel: threading.Event | None = None) -> str:
        if path.strip() in ("", ".", "/"):
            if len(self.folders) > 1:
                return "\n".join(f"{f.name}/" for f in self.folders)
            path = "."
        real, folder = self.resolve(path)
        if not real.is_dir():
            raise PathRefused(f"{path!r} is not a folder (read it with read_file).")
        lines = []
        entries = sorted(real.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
        for entry in entries[:MAX_LISTED]:
            lines.append(self._entry(entry, folder))
        if len(entries) > MAX_LISTED:
            lines.append(f"[… {len(entries) - MAX_LISTED} more entries not shown]")
        return "\n".join(lines) if lines else "(empty folder)"

    def _entry(self, entry: Path, folder: Path) -> str:
        name = self.shown(entry.parent, folder)
        name = entry.name if name == "." else f"{name}/{entry.name}"
        if self._folder_of(entry.resolve()) is None:
            return f"{name} (a link out of the chosen folders: not readable)"
        if entry.is_dir():
            return f"{name}/"
        return f"{name} ({entry.stat().st_size:,} bytes)"

    def read_file(self, path: str, cancel: threading.Event | None = None) -> str:
        real, _ = self.resolve(path)
        if real.is_dir():
            raise PathRefused(f"{path!r} is a folder (list it with list_files).")
        return self.cut(read_document(real).text)

    def cut(self, text: str) -> str:
        """``text``, or its start and a note saying it was cut, within ``max_chars``."""
        if len(text) <= self.max_chars:
            return text
        return (
            text[: self.max_chars]
            + f"\n[cut: the first {self.max_chars:,} of {len(text):,} characters are shown]"
        )

    def search_files(self, query: str, cancel: threading.Event | None = None) -> str:
        words = query.lower().split()
        if not words:
            raise PathRefused("the query is empty: give the words to look for.")
        hits: list[str] = []
        searched = 0
        for real, folder in self._walk():
            if (cancel is not None and cancel.is_set()) or searched >= MAX_SEARCHED:
                break
            searched += 1
            document = _readable(real)
            if document is not None:
                hits.extend(_matches(document, words, self.shown(real, folder)))
            if len(hits) >= MAX_HITS:
                break
        if not hits:
            return f"No file contains {query!r} ({searched} files searched)."
        return self.cut("\n".join(hits[:MAX_HITS]))

    def _walk(self) -> Iterator[tuple[Path, Path]]:
        for folder in self.folders:
            for root, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    real = (Path(root) / name).resolve()
                    if self._folder_of(real) is not None and real.is_file():
                        yield real, folder


def _readable(path: Path) -> Document | None:
    try:
        if path.stat().st_size > MAX_SEARCH_BYTES:
            return None
        return read_document(path, ocr=False)  # a search reads no scans (seconds a page)
    except (DocumentError, OSError) as err:
        log.debug("search_files leaves out %s: %s", path, err)
        return None


def _matches(document: Document, words: list[str], shown: str) -> list[str]:
    """Each line of ``document`` holding all of ``words``: ``path:line: text`` (a PDF's
    page instead of its line)."""
    out = []
    offset = 0
    for number, line in enumerate(document.text.splitlines(keepends=True), 1):
        lower = line.lower()
        if all(word in lower for word in words):
            where = f"page {_page_at(document, offset)}" if document.pages else f"line {number}"
            out.append(f"{shown} ({where}): {line.strip()[:200]}")
        offset += len(line)
    return out


def _page_at(document: Document, offset: int) -> int:
    return sum(1 for start in document.pages if start <= offset)


def _message(err: Exception) -> str:
    if isinstance(err, DocumentError):
        return err.message
    if isinstance(err, OSError):
        return f"{err.filename or 'the file'}: {err.strerror or err}"
    return str(err)
