"""The built-in tools and OCR in the page (real app, real Chromium): the Tools panel's
switches and folders, a run_python call allowed on its card, a picture attached in the
message box read by OCR into the question."""

from __future__ import annotations

import time

import pytest

from seedchat.engine.host import ModelHost
from seedchat.settings import ChatSettings, load_settings
from seedchat.tools.builtin.config import BuiltinConfig
from seedchat.ui.builtin_box import LABELS
from seedchat.ui.conversations import newest_conversation
from tests.browser import running_app, screenshot, send, set_budget, set_checked, wait_done
from tests.documents_helpers import (
    PARAGRAPH,
    assert_words,
    image_bytes,
    joined_pdf,
    scanned_pdf,
    text_image,
)
from tests.page_script import Script, call, chat_text, scripted_generate, settled, wait_text

pytestmark = pytest.mark.slow

BIG = "1267650600228229401496703205376"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    home = tmp_path_factory.mktemp("builtins-home")
    (home / "config").mkdir(parents=True, exist_ok=True)
    ChatSettings(temperature=0.0).save_to(load_settings(home / "config" / "settings.json"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ModelHost, "generate", scripted_generate)
        with running_app(home, port=7930) as running:
            running.host.wait_loaded(120)
            assert running.host.engine is not None, running.host.error
            yield running


def open_tools(page) -> None:
    if not page.locator("#builtin-tools").is_visible():
        page.locator("#tools-drawer").get_by_text("Tools", exact=True).first.click()
    page.locator("#builtin-tools").wait_for(timeout=30_000)


def until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the switch was not saved"
        time.sleep(0.2)


def test_the_panels_switches_and_folders_and_a_call_allowed_once(page, app, tmp_path):
    open_tools(page)
    switches = page.locator("#builtin-tools")
    for name in ("python", "files", "fetch"):
        assert not switches.get_by_label(LABELS[name]).is_checked()  # each off at first
    assert "off by default" in switches.inner_text()
    switches.get_by_label(LABELS["files"]).click()  # no folder yet: refused, unchecked
    page.locator("#error-box").get_by_text("needs a folder").wait_for(timeout=30_000)
    assert BuiltinConfig.load().enabled == set()
    page.locator("#files-folders textarea").fill(str(tmp_path))
    page.locator("#files-folders-save").click()
    until(lambda: BuiltinConfig.load().folders == [tmp_path.resolve()])
    set_checked(page, switches.get_by_label(LABELS["files"]), True)
    set_checked(page, switches.get_by_label(LABELS["python"]), True)
    until(lambda: BuiltinConfig.load().enabled == {"files", "python"})
    screenshot(page, "builtin-tools-panel")

    set_budget(page, 0)
    # (a result that is not JSON: the scripted replies read a JSON result's datetime)
    code = "print(2**100, 'exactly')"
    Script.replies[:] = [call("run_python", code=code), "That is the number."]
    asked = len(Script.prompts)  # (the list is shared with test_ui_tools)
    send(page, "What is 2**100 exactly?")
    once = page.locator('#chatbot a[href^="#tool-once-"]')
    once.wait_for(timeout=120_000)
    assert "run_python" in chat_text(page) and "built in" in chat_text(page)
    once.click()
    wait_text(page, "That is the number.")
    settled(app)
    store = app.running.blocks.seedchat_store
    saved = store.get_conversation(newest_conversation(store)).messages
    assert [m.role for m in saved] == ["user", "assistant", "tool", "assistant"]
    assert (saved[2].tool_name, saved[2].content) == ("run_python", f"{BIG} exactly")
    assert "run_python" in Script.prompts[asked] and "list_files" in Script.prompts[asked]


def test_a_picture_attached_in_the_page_is_read_by_ocr(page, app, tmp_path):
    picture = tmp_path / "paragraph.png"
    picture.write_bytes(image_bytes(text_image(PARAGRAPH)))
    set_budget(page, 0)
    Script.replies[:] = ["It is about photosynthesis."]
    page.locator("#message textarea").fill("What does it say?")
    page.locator("#message input[type=file]").set_input_files(str(picture))
    page.locator("#context-meter").get_by_text("tokens").first.wait_for(timeout=120_000)
    send(page, "What does it say?")
    wait_done(page, timeout_ms=180_000)
    assert "paragraph.png · " in chat_text(page) and "read by OCR" in chat_text(page)
    screenshot(page, "ocr-chip")
    store = app.running.blocks.seedchat_store
    question = store.get_conversation(newest_conversation(store)).messages[0]
    (picture_doc,) = question.attachments
    assert picture_doc.text.startswith("[image, read by OCR]\n")
    assert_words(picture_doc.text, PARAGRAPH)
    assert picture_doc.ocr_pages == (1,)
    # the model read the picture's words in the question
    assert "[file: paragraph.png]\n[image, read by OCR]\n" in Script.prompts[-1]
    assert_words(Script.prompts[-1], PARAGRAPH)


def test_a_scan_being_read_shows_its_pages_and_can_be_cancelled(page, app, tmp_path):
    scan = tmp_path / "scan.pdf"
    pages = [scanned_pdf([f"Page {n} of the harbour ledger", "seventeen ships"]) for n in range(6)]
    scan.write_bytes(joined_pdf(*pages))
    page.locator("#message textarea").fill("Sum it up")
    page.locator("#message input[type=file]").set_input_files(str(scan))
    meter = page.locator("#context-meter")
    meter.get_by_text("Reading scan.pdf: page").wait_for(timeout=60_000)
    page.locator("#cancel-reading").click()
    page.locator("#error-box").get_by_text("Reading scan.pdf was cancelled").wait_for(
        timeout=60_000
    )
    assert not page.locator("#cancel-reading").is_visible()
    assert "scan.pdf" not in page.locator("#message").inner_text()  # it left the box
