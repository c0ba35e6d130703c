"""The built-in files tool: inside the chosen folders only (real files, links, a PDF)."""

from __future__ import annotations

import threading

import pytest

from seedchat.tools.builtin.config import BuiltinConfig, BuiltinToolError
from seedchat.tools.builtin.files import FilesTool
from tests.documents_helpers import make_pdf


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / "todo.md").write_text("# Todo\nbuy apples\ncall Ada\n", encoding="utf-8")
    (root / "sub" / "deep.txt").write_text("the zebra is deep\n", encoding="utf-8")
    (root / "report.pdf").write_bytes(make_pdf(["First page intro", "The walrus appears here"]))
    (tmp_path / "secret.txt").write_text("password=hunter2\n", encoding="utf-8")
    return root


def call(tool: FilesTool, name: str, **arguments) -> tuple[str, bool]:
    outcome = tool.call(name, arguments, threading.Event())
    return outcome.text, outcome.is_error


def test_listing_and_reading_inside_the_folder(folder):
    tool = FilesTool([folder])
    text, is_error = call(tool, "list_files", path="")
    assert not is_error
    assert text.splitlines()[0] == "sub/" and "todo.md (27 bytes)" in text
    assert call(tool, "list_files", path="sub") == ("sub/deep.txt (18 bytes)", False)
    assert call(tool, "read_file", path="todo.md") == ("# Todo\nbuy apples\ncall Ada\n", False)
    text, is_error = call(tool, "read_file", path="report.pdf")
    assert not is_error and "[page 2]\nThe walrus appears here" in text


@pytest.mark.parametrize("path", ["../secret.txt", "sub/../../secret.txt", "..", "/etc/passwd"])
def test_paths_out_of_the_folder_are_refused(folder, path):
    text, is_error = call(FilesTool([folder]), "read_file", path=path)
    assert is_error and "hunter2" not in text and "root:" not in text
    assert "'..' is not allowed" in text or "outside the folders" in text


def test_an_absolute_path_inside_is_read_and_one_outside_refused(folder):
    tool = FilesTool([folder])
    assert call(tool, "read_file", path=str(folder / "sub" / "deep.txt"))[1] is False
    text, is_error = call(tool, "read_file", path=str(folder.parent / "secret.txt"))
    assert is_error and "outside the folders" in text


def test_a_symbolic_link_out_is_refused_and_not_searched(folder):
    (folder / "escape.txt").symlink_to(folder.parent / "secret.txt")
    (folder / "outside").symlink_to(folder.parent)
    tool = FilesTool([folder])
    for path in ("escape.txt", "outside/secret.txt"):
        text, is_error = call(tool, "read_file", path=path)
        assert is_error and "outside the folders" in text and "hunter2" not in text
    assert "not readable" in call(tool, "list_files", path="")[0]
    assert call(tool, "search_files", query="hunter2")[0].startswith("No file contains")


def test_search_finds_a_word_in_a_pdf_with_its_page(folder):
    text, is_error = call(FilesTool([folder]), "search_files", query="WALRUS")
    assert (text, is_error) == ("report.pdf (page 2): The walrus appears here", False)
    assert call(FilesTool([folder]), "search_files", query="zebra")[0] == (
        "sub/deep.txt (line 1): the zebra is deep"
    )


def test_a_big_file_is_cut_and_marked(folder):
    (folder / "big.txt").write_text("x" * 5000, encoding="utf-8")
    text, _ = call(FilesTool([folder], max_chars=1000), "read_file", path="big.txt")
    assert text.startswith("x" * 1000) and text.endswith(
        "[cut: the first 1,000 of 5,000 characters are shown]"
    )


def test_several_folders_are_named_by_their_names(folder, tmp_path):
    other = tmp_path / "papers"
    other.mkdir()
    (other / "a.txt").write_text("alpha\n", encoding="utf-8")
    tool = FilesTool([folder, other])
    assert call(tool, "list_files", path="") == ("notes/\npapers/", False)
    assert call(tool, "read_file", path="papers/a.txt") == ("alpha\n", False)
    assert call(tool, "search_files", query="alpha")[0] == "papers/a.txt (line 1): alpha"


def test_the_folders_are_kept_and_files_needs_one(folder):
    config = BuiltinConfig.load()
    with pytest.raises(BuiltinToolError, match="needs a folder"):
        config.set_enabled("files", True)
    config.add_folder(folder)
    config.set_enabled("files", True)
    config.save()
    again = BuiltinConfig.load()
    assert again.enabled == {"files"} and again.folders == [folder.resolve()]
    with pytest.raises(BuiltinToolError, match="not a folder"):
        again.add_folder(folder / "todo.md")
