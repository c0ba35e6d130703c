"""The README and docs/ are the project's own and kept true: the README stays a short
newcomer's page, every link in them leads somewhere, nothing refers outside the
repository, and the reference pages quote the code as it is."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from seedchat.events import Reflect, ThinkingEnd
from seedchat.seed import budget, tags

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_WORDS = 2000
TEST_COMMAND = "bash packaging/install.sh --dev && .venv/bin/python -m pytest -n 2"
OUTSIDE = "../" + "shared"  # spelled in two parts so this file does not match itself


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def test_the_readme_is_a_short_page():
    words = len(README.read_text(encoding="utf-8").split())
    assert words <= MAX_README_WORDS, (
        f"README.md has {words} words (at most {MAX_README_WORDS}): move reference to docs/"
    )


def test_the_readme_keeps_its_test_command_for_ci():
    text = README.read_text(encoding="utf-8")
    block = text[text.index("<!-- test-command -->") : text.index("<!-- /test-command -->")]
    assert [line for line in block.splitlines() if line.startswith("bash ")] == [TEST_COMMAND]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces → hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_leads_to_a_file_and_heading_that_exist(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target} (no such heading in {file.name})")
    assert broken == [], f"{page.name} links to {broken}"


def _repository_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout.decode()
        return [REPO / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist)
        skip = {".git", ".venv", "build", "dist", "__pycache__", "node_modules"}
        return [
            p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.relative_to(REPO).parts)
        ]


def test_no_file_refers_outside_the_repository():
    offenders = [
        p.relative_to(REPO).as_posix()
        for p in _repository_files()
        if p.is_file() and OUTSIDE.encode() in p.read_bytes()
    ]
    assert offenders == [], f"these files refer to {OUTSIDE}, which a clone does not have"


# -- the reference pages quote the code --------------------------------------------------


def test_the_seed_format_page_quotes_the_format_as_the_code_spells_it():
    page = (DOCS / "seed-format.md").read_text(encoding="utf-8")
    quoted = [
        *tags.CONTROL_TOKENS,
        *tags.THINK_OPEN_TAGS,
        *tags.THINK_CLOSE_TAGS,
        tags.REFLECT_OPEN,
        tags.REFLECT_CLOSE,
        tags.TOOL_CALL_OPEN,
        tags.TOOL_CALL_CLOSE,
        tags.EXHAUSTED_LINE,
        tags.EXHAUSTED_REFLECT,
        tags.reflect_text(129, 383).removeprefix(tags.REFLECT_OPEN).split(".")[0],
    ]
    missing = [text for text in quoted if f"`{text}" not in page and text not in page]
    assert missing == []
    forced = tags.forced_end_text().replace("\n", "\\n")
    assert forced in page, "seed-format.md's forced end differs from forced_end_text()"


def test_the_seed_format_page_gives_the_reflect_intervals_the_code_uses():
    page = (DOCS / "seed-format.md").read_text(encoding="utf-8")
    table = page[page.index("<!-- reflect-intervals") : page.index("<!-- /reflect-intervals")]
    rows = re.findall(r"^\| (\d+|larger) \| (\d+) \|$", table, re.M)
    assert len(rows) == len(budget.RECOMMENDED)  # the trained budgets but 0, and "larger"
    for upto, interval in rows:
        limit = budget.MAX_BUDGET if upto == "larger" else int(upto)
        assert budget.reflect_interval(limit) == int(interval), f"budget {upto}"


def test_the_api_page_names_every_field_of_the_thinking_events():
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    ends = ", ".join(f.name for f in dataclasses.fields(ThinkingEnd))
    assert f"seedchat_thinking: {{{ends}}}" in page
    for name in ("used", "remaining", "exhausted", "true_count", "injected"):
        assert name in {f.name for f in dataclasses.fields(Reflect)}
        assert re.search(rf"seedchat_reflect: \{{[^}}]*\b{name}\b", page), name


def _options(verb: str, capsys) -> set[str]:
    """The long options `seedchat VERB --help` lists."""
    from seedchat.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([verb, "--help"])
    return set(re.findall(r"(?<![\w-])--[a-z][\w-]*", capsys.readouterr().out)) - {"--help"}


@pytest.mark.parametrize("verb", ["ui", "chat", "serve"])
def test_the_command_line_pages_name_every_option(verb, capsys):
    pages = "".join((DOCS / name).read_text(encoding="utf-8") for name in ("cli.md", "api.md"))
    options = _options(verb, capsys)
    assert "--model" in options
    missing = sorted(o for o in options if not re.search(rf"(?<![\w-]){o}\b", pages))
    assert missing == [], f"docs/cli.md and docs/api.md do not name seedchat {verb}'s {missing}"
