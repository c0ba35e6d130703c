"""What a new user sees first, at a desktop's size (1400 × 900) and a phone's (390 × 844):
the message box spans the chat column beside compact Send and Stop buttons; the page's own
marks (the box's hint, a file's chip, an outside image's link, a tool card's state, a
reflect line) are drawn with the page's fonts, no emoji font needed; on a phone, the
first-run panel is one line and the message box is on the first screen. Real Chromium on
the real app (tests/browser.py)."""

from __future__ import annotations

import pytest

from seedchat.documents.read import Document
from seedchat.events import Reflect
from seedchat.ui.outside_images import placeholder
from seedchat.ui.render import file_chip, reflect_marker
from seedchat.ui.tool_cards import ICONS
from tests.browser import screenshot, send, set_budget, sized_page, wait_done

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}

# Each character of each text that the page's font, at ``selector``'s style, would draw as
# the missing-glyph box (compared with a character no font has, drawn the same way on a
# canvas); and each pictograph (an emoji: an empty box wherever no emoji font is installed).
UNDRAWN = """
([selector, texts]) => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.font = getComputedStyle(document.querySelector(selector)).font;
  const drawn = (c) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.fillText(c, 8, 40);
    return ctx.getImageData(0, 0, 64, 64).data.join(',');
  };
  const box = drawn('\\u{10FFFD}');
  const found = [];
  for (const text of texts) {
    for (const c of text) {
      if (/\\p{Extended_Pictographic}/u.test(c)) found.push(`${c} (emoji) in ${text}`);
      else if (c.trim() && drawn(c) === box) found.push(`${c} (no glyph) in ${text}`);
    }
  }
  return found;
}
"""

BOX = """
(selector) => {
  const r = document.querySelector(selector).getBoundingClientRect();
  return { left: r.left, right: r.right, top: r.top + window.scrollY,
           bottom: r.bottom + window.scrollY, width: r.width };
}
"""


def box(page, selector: str) -> dict:
    return page.evaluate(BOX, selector)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_message_box_is_at_least_as_wide_as_send_and_stop(browser, app, size):
    with sized_page(browser, app.url, size, touch=size is PHONE) as page:
        for part in ("#message", "#send", "#stop"):  # the page draws its parts one by one
            page.wait_for_selector(part)
        message, send_, stop = (box(page, s) for s in ("#message", "#send", "#stop"))
        screenshot(page, f"layout-message-row-{size['width']}")
        assert message["width"] >= send_["width"] + stop["width"], (message, send_, stop)
        column = box(page, "#chat-column")
        for part in (message, send_, stop):  # all three inside the chat column
            assert column["left"] - 1 <= part["left"] and part["right"] <= column["right"] + 1


def test_the_pages_marks_need_no_emoji_font(browser, app, tmp_path):
    """The hint names the box's own paperclip button in words; a file's chip and an outside
    image's link carry an icon drawn by the page's CSS; a tool card's states and a reflect
    line use characters the page's fonts have."""
    with sized_page(browser, app.url, DESKTOP) as page:
        hint = page.locator("#message textarea").get_attribute("placeholder")
        assert "paperclip" in hint
        upload = page.locator("#message [data-testid=upload-button] svg")
        assert upload.bounding_box()["width"] > 8  # the paperclip the hint names is drawn
        chip = file_chip(Document("notes.md", "markdown", "hi\n", 3, "0" * 64))
        texts = [
            hint,
            chip,
            placeholder("https://x.example/a.png"),
            placeholder("javascript:alert(1)"),
            *ICONS.values(),
            reflect_marker(Reflect(6, 506, False, "I have used 6 tokens", 7)),
        ]
        assert page.evaluate(UNDRAWN, ["#message textarea", texts]) == []

        # a real chip in the chat: its paperclip is an icon before its words
        notes = tmp_path / "notes.md"
        notes.write_text("The meeting is on Tuesday.\n")
        set_budget(page, 0)
        page.locator("#message input[type=file]").set_input_files(str(notes))
        page.locator('#message [aria-label="File thumbnail"]').wait_for(timeout=30_000)
        app.host.engine.script_next_reply("On Tuesday.")
        send(page, "When is the meeting?")
        wait_done(page)
        shown = page.locator("#chatbot .file-chip")
        shown.wait_for()
        assert shown.inner_text().startswith("notes.md · ")
        assert page.evaluate(UNDRAWN, ["#chatbot .file-chip", [shown.inner_text()]]) == []
        icon = shown.evaluate(
            "el => { const s = getComputedStyle(el, '::before');"
            " return [s.webkitMaskImage || s.maskImage, s.width, s.backgroundColor]; }"
        )
        assert icon[0].startswith('url("data:image/svg+xml,') and icon[1] != "0px", icon
        screenshot(page, "layout-file-chip")


def test_on_a_phone_the_first_run_panel_is_one_line_above_the_message_box(browser, app):
    with sized_page(browser, app.url, PHONE, touch=True) as page:
        offers = page.locator("#first-run-offers > button.label-wrap")
        page.wait_for_selector("#first-run-offers > button.label-wrap:not(.open)", timeout=20_000)
        assert "demo model" in offers.inner_text()
        assert box(page, "#first-run")["bottom"] - box(page, "#first-run")["top"] < 80
        message = box(page, "#message")
        screenshot(page, "layout-phone-first-run")
        assert message["bottom"] <= PHONE["height"], message  # on the first screen
        for selector in ("#send", "#stop"):
            assert box(page, selector)["bottom"] <= PHONE["height"], selector
        offers.tap()  # the offers are a tap away
        page.wait_for_selector("#first-run-offers > button.label-wrap.open")
        page.locator("#first-run-seed-oss-36b-instruct").wait_for()


def test_on_a_desktop_the_first_run_offers_show_open(browser, app):
    with sized_page(browser, app.url, DESKTOP) as page:
        page.locator("#first-run-seed-oss-36b-instruct").wait_for(timeout=20_000)
        page.wait_for_timeout(700)  # the page's load scripts have run: it stays open
        assert page.locator("#first-run-offers > button.label-wrap.open").count() == 1
