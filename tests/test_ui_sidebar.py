"""The conversations sidebar in a real headless Chromium against the real app (demo
model, real SQLite file): saved as you chat, kept over a reload, searched, renamed,
deleted and restored, exported, imported, settings per conversation, partial replies.

Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedchat.events import AnswerDelta, ThinkingDelta, ThinkingEnd, ThinkingStart
from seedchat.store import Store
from tests.browser import (
    Pages,
    running_app,
    screenshot,
    send,
    set_budget,
    set_checked,
    wait_done,
    wait_title,
)

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def model_loaded(app):
    app.host.wait_loaded(120)
    assert app.host.engine is not None, f"the app has no model ({app.host.error})"


def database(app) -> Store:
    """The app's own database file, opened as a second user of it (WAL allows that)."""
    return Store(app.home / "data" / "seedchat.db")


def listed(page) -> list[str]:
    return page.evaluate(
        "[...document.querySelectorAll('#conversation-list label')].map(e => e.innerText.trim())"
    )


def wait_listed(page, text: str, present: bool = True, timeout: int = 20_000) -> None:
    page.wait_for_function(
        "([t, want]) => [...document.querySelectorAll('#conversation-list label')]"
        ".some(e => e.innerText.includes(t)) === want",
        arg=[text, present],
        timeout=timeout,
    )


def upload(page, path: Path) -> None:
    """Pick ``path`` in the file chooser of the Import button (a real click)."""
    with page.expect_file_chooser() as chooser:
        page.locator("#import").click()
    chooser.value.set_files(str(path))


def chat_text(page) -> str:
    return page.locator("#chatbot").inner_text()


def test_a_chat_is_saved_and_comes_back_after_a_reload(app, page):
    set_budget(page, 0)
    send(page, "What colour is a ripe banana?")
    wait_done(page)
    answer = page.locator("#chatbot [data-testid=bot]").last.inner_text().strip()
    assert answer
    wait_listed(page, "What colour is a ripe banana?")
    wait_title(page, "What colour is a ripe banana?")  # the new conversation's, as listed
    # a reload (no ?new) opens the conversation used last, as it was
    page.goto(app.url)
    page.wait_for_selector("#chatbot")
    page.locator("#chatbot [data-testid=user]").first.wait_for(timeout=20_000)
    assert "ripe banana" in page.locator("#chatbot [data-testid=user]").first.inner_text()
    assert page.locator("#chatbot [data-testid=bot]").last.inner_text().strip() == answer
    assert page.locator("#conversation-title input").input_value().startswith("What colour")
    screenshot(page, "sidebar-after-reload")
    # the reloaded page goes on in the same conversation
    send(page, "And an unripe one?")
    wait_done(page)
    assert page.locator("#chatbot [data-testid=user]").count() == 2
    with database(app) as store:
        convs = store.list_conversations()
        assert len([c for c in convs if c.title.startswith("What colour")]) == 1
        conv = store.get_conversation(convs[0].id)
        assert [m.role for m in conv.messages] == ["user", "assistant"] * 2
        assert all(m.status == "complete" for m in conv.messages)
        assert conv.settings["budget"] == 0


def test_search_rename_delete_and_undo(app, page):
    set_budget(page, 0)
    send(page, "Tell me about the zanzibar archipelago.")
    wait_done(page)
    wait_listed(page, "zanzibar")
    page.locator("#new-chat").click()
    page.wait_for_function("!document.querySelector('#chatbot [data-testid=user]')")
    search = page.locator("#conversation-search input, #conversation-search textarea").first
    search.fill("zanzibar")
    results = page.locator("#search-results")
    results.get_by_text("1 conversation found").wait_for(timeout=10_000)
    assert "zanzibar" in results.inner_text().lower()
    assert listed(page) and all("zanzibar" in t.lower() for t in listed(page))
    screenshot(page, "sidebar-search")
    # open it from the results
    page.locator("#conversation-list label").first.click()
    page.get_by_text("Tell me about the zanzibar archipelago.").first.wait_for()
    search.fill("")  # the whole list back before the rename (their answers could cross)
    page.wait_for_function(
        "!document.querySelector('#search-results')?.innerText.includes('found')"
    )
    # rename (once the title box shows the opened conversation's title: typed sooner, the
    # box's own update could come after the typing)
    title = page.locator("#conversation-title input")
    page.wait_for_function(
        "document.querySelector('#conversation-title input').value.toLowerCase().includes('zanzibar')"
    )
    title.fill("Islands 🌴 trip")
    page.locator("#rename").click()
    wait_listed(page, "Islands 🌴 trip")
    screenshot(page, "sidebar-renamed")
    # delete, then undo
    page.locator("#delete").click()
    page.locator("#undo-note").get_by_text("Deleted “Islands 🌴 trip”").wait_for()
    wait_listed(page, "Islands 🌴 trip", present=False)
    assert page.locator("#chatbot [data-testid=user]").count() == 0
    with database(app) as store:
        assert [c.title for c in store.list_conversations(trash=True)] == ["Islands 🌴 trip"]
    screenshot(page, "sidebar-deleted")
    page.locator("#undo-delete").click()
    wait_listed(page, "Islands 🌴 trip")
    page.get_by_text("Tell me about the zanzibar archipelago.").first.wait_for()
    assert not page.locator("#undo-delete").is_visible()
    with database(app) as store:
        assert store.list_conversations(trash=True) == []


def test_export_and_import(page, tmp_path: Path):
    # a conversation written elsewhere, exported as JSON, to import
    with Store(tmp_path / "other.db") as other:
        conv = other.create_conversation(title="Imported 导入 notes")
        q = other.add_message(conv.id, "user", "What is the capital of Peru?")
        other.add_message(conv.id, "assistant", "Lima.", parent_id=q.id, thinking="Peru… Lima")
        from seedchat.store import write_export

        source = write_export(other, tmp_path / "export.json")
    upload(page, source)
    wait_listed(page, "Imported 导入 notes")
    page.get_by_text("What is the capital of Peru?").first.wait_for()
    assert "Lima." in chat_text(page)
    # saved thinking comes back as a closed block
    assert page.locator("#chatbot .thought-group").count() == 1
    assert not page.locator("#chatbot .thought-group .title.expanded").count()
    screenshot(page, "sidebar-imported")
    # export it again, as Markdown and as JSON, through the page's download
    for fmt, check in (("Markdown", "What is the capital of Peru?"), ("JSON", '"Lima."')):
        page.locator("#export-format").get_by_text(fmt, exact=True).click()
        page.locator("#export").click()
        suffix = ".md" if fmt == "Markdown" else ".json"
        link = page.locator(f'#export-file a[download$="{suffix}"]')
        link.wait_for(timeout=10_000)
        assert link.get_attribute("download").startswith("Imported-导入-notes")
        with page.expect_download() as download:
            link.click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert check in text, text[:300]
        if fmt == "JSON":
            data = json.loads(text)
            assert data["conversations"][0]["title"] == "Imported 导入 notes"
    # a file that is not an export is refused with a clear error, nothing imported
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    upload(page, bad)
    page.locator("#error-box").get_by_text("nothing was imported").wait_for(timeout=10_000)


def test_settings_are_kept_per_conversation(app, page):
    set_budget(page, 0)
    send(page, "First settings chat about apples.")
    stats = wait_done(page)
    page.locator("#new-chat").click()
    set_budget(page, 1024)
    page.locator("#enforcement").get_by_text("soft").click()
    send(page, "Second settings chat about pears.")
    wait_done(page, previous=stats)
    wait_listed(page, "about pears")
    page.locator("#conversation-list label", has_text="about apples").click()
    page.wait_for_function(
        "document.querySelector('#budget-now').innerText.includes('answer directly')"
    )
    assert page.locator("#enforcement input[value=hard]").is_checked()
    page.locator("#conversation-list label", has_text="about pears").click()
    page.wait_for_function(
        "document.querySelector('#budget-now').innerText.includes('1024 tokens')"
    )
    assert page.locator("#enforcement input[value=soft]").is_checked()
    screenshot(page, "sidebar-settings-per-conversation")
    # a change made while a conversation is open is saved with it at once
    set_checked(page, page.locator("#unlimited input[type=checkbox]"), True)
    page.wait_for_function("document.querySelector('#budget-now').innerText.includes('unlimited')")
    with database(app) as store:
        pears = next(c for c in store.list_conversations() if "pears" in c.title)
        for _ in range(50):
            if store.get_conversation(pears.id).settings.get("budget") == -1:
                break
            page.wait_for_timeout(100)
        assert store.get_conversation(pears.id).settings["budget"] == -1


def test_a_reply_cut_by_a_crash_shows_as_partial(app, new_page):
    # What a crash mid-reply leaves in the file: the question, and the answer as far as
    # its last flush (status "partial"); the store's SIGKILL test makes that real.
    with database(app) as store:
        conv = store.create_conversation(title="Crashed mid-reply")
        q = store.add_message(conv.id, "user", "Explain tides.")
        rec = store.record_stream(conv.id, q.id, settings={"budget": 512}, flush_interval=3600)
        for event in (
            ThinkingStart(),
            ThinkingDelta("The moon pulls…", 4),
            ThinkingEnd(4, 0.3),
            AnswerDelta("Tides come from the moon's"),
        ):
            rec.on_event(event)
        assert rec.flush()
        rec._stop.set()  # the process "dies" here: no finish
    page = new_page(fresh=False)
    page.get_by_text("Explain tides.").first.wait_for(timeout=20_000)
    page.get_by_text("Tides come from the moon's").first.wait_for()
    assert page.get_by_text("interrupted: this answer was saved").first.is_visible()
    assert page.locator("#chatbot .thought-group").count() == 1
    screenshot(page, "sidebar-partial-reply")


def test_a_damaged_database_never_stops_the_app(browser, tmp_path: Path):
    """The app starts without saving, says so, and offers to move the file aside;
    the damaged file is never changed."""
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    damaged = home / "data" / "seedchat.db"
    damaged.write_bytes(b"SQLite format 3\0" + bytes(range(256)) * 64)
    before = damaged.read_bytes()
    with running_app(home, port=7880) as broken:
        broken.host.wait_loaded(120)
        with Pages(browser, broken.url) as pages:
            page = pages()
            note = page.locator("#store-problem")
            note.get_by_text("Conversations are not being saved").wait_for(timeout=20_000)
            assert "damaged" in note.inner_text()
            assert damaged.read_bytes() == before
            # the chat still works, unsaved
            set_budget(page, 0)
            send(page, "Hello?")
            wait_done(page)
            assert page.locator("#chatbot [data-testid=bot]").last.inner_text().strip()
            screenshot(page, "sidebar-damaged-database")
            page.locator("#store-move-aside").click()
            note.get_by_text("Restart seedchat").wait_for(timeout=10_000)
            assert not damaged.exists()
            moved = list((home / "data").glob("seedchat.db.corrupt-*"))
            assert len(moved) == 1 and moved[0].read_bytes() == before


def test_answers_render_markdown_code_and_latex_with_copy(app, new_page):
    """A saved answer with Markdown, a code block and LaTeX is drawn as such in the page
    (emphasis, highlighted code, KaTeX), with a copy button."""
    answer = (
        "Here is **bold** text.\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
        "And a formula: $$E = mc^2$$"
    )
    with database(app) as store:
        conv = store.create_conversation(title="Rendering check")
        q = store.add_message(conv.id, "user", "Show me markdown.")
        store.add_message(conv.id, "assistant", answer, parent_id=q.id)
    page = new_page(fresh=False)
    bot = page.locator("#chatbot [data-testid=bot]").last
    bot.locator("pre code").first.wait_for(timeout=20_000)
    assert bot.locator("strong", has_text="bold").count() == 1
    code = bot.locator("pre code").first
    assert "def add(a, b):" in code.inner_text()
    assert code.locator("span").count() > 0  # highlighted: tokens in spans
    assert bot.locator(".katex").count() >= 1
    assert "$$" not in bot.inner_text()
    assert page.locator("#chatbot button[aria-label*=opy], #chatbot button[title*=opy]").count()
    screenshot(page, "chat-markdown-code-latex")
