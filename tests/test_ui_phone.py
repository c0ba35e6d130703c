"""The page at a phone's size (390 × 844, touch): the chat, Send and Stop, the budget and the
thinking block usable, the conversations and the settings in drawers — no horizontal
scrolling, no control out of reach. Real Chromium on the real app (tests/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import screenshot, send, set_budget, sized_page, wait_done

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}

# the page is not wider than the screen: nothing to scroll sideways
NO_SIDEWAYS = """
() => document.documentElement.scrollWidth <= window.innerWidth
      && document.body.scrollWidth <= window.innerWidth
"""

# the control is inside the screen once scrolled to, and a tap at its middle reaches it
# (within half a pixel each side: a scroll on a phone's fractional pixel ratio can stop at
# -0.31 px, as it did once in CI)
IN_REACH = """
(el) => {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return 'not shown';
  if (r.left < -0.5 || r.right > window.innerWidth + 0.5) return `sideways: ${r.left}..${r.right}`;
  if (r.top < -0.5 || r.bottom > window.innerHeight + 0.5) return `off screen: ${r.top}..${r.bottom}`;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return hit && (el === hit || el.contains(hit)) ? 'ok' : `covered by ${hit && hit.outerHTML.slice(0, 80)}`;
}
"""


@pytest.fixture
def phone(browser, app) -> Iterator:
    with sized_page(browser, app.url, PHONE, touch=True) as page:
        yield page


def assert_fits(page) -> None:
    assert page.evaluate(NO_SIDEWAYS), page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )


def assert_in_reach(page, selector: str) -> None:
    control = page.locator(selector).first
    control.scroll_into_view_if_needed()
    assert control.evaluate(IN_REACH) == "ok", selector


def drawer(page, name: str):
    return page.locator(f"#{name}-drawer > button.label-wrap")


def toggle(page, name: str, want_open: bool) -> None:
    label = drawer(page, name)
    assert_in_reach(page, f"#{name}-drawer > button.label-wrap")
    label.tap()
    selector = f"#{name}-drawer > button.label-wrap{'.open' if want_open else ':not(.open)'}"
    page.wait_for_selector(selector, timeout=5000)


def test_the_page_on_a_phone(phone):
    page = phone
    # the drawers start closed on a phone: the chat is what shows
    page.wait_for_selector("#settings-drawer > button.label-wrap:not(.open)", timeout=10_000)
    page.wait_for_selector("#conversations-drawer > button.label-wrap:not(.open)")
    # and the first-run offers, which come with the page's load: until they are drawn and
    # closed the message box may yet move down
    page.wait_for_selector("#first-run-offers > button.label-wrap:not(.open)", timeout=20_000)
    assert not page.locator("#budget").is_visible()
    assert not page.locator("#conversation-list").is_visible()
    assert_fits(page)
    for selector in ("#message textarea", "#send", "#stop"):
        assert_in_reach(page, selector)
    screenshot(page, "phone-start")

    # the settings drawer: change the budget
    toggle(page, "settings", want_open=True)
    assert_in_reach(page, "#unlimited label")
    set_budget(page, 384)
    for selector in ("#budget input[type=number]", "#budget input[type=range]", "#budget-now"):
        assert_in_reach(page, selector)
    assert_fits(page)
    screenshot(page, "phone-settings")
    toggle(page, "settings", want_open=False)

    # ask a question; open and close its thinking block
    for _attempt in range(3):
        assert_in_reach(page, "#message textarea")
        send(page, "What is 12 plus 30?")
        wait_done(page)
        if page.locator("#chatbot .thought-group .title").count():
            break
        page.locator("#new-chat").dispatch_event("click")  # a reply with no thinking: again
    title = page.locator("#chatbot .thought-group .title").last
    assert_fits(page)
    assert "/ 384 tokens" in title.inner_text()
    assert_in_reach(page, "#chatbot .thought-group .title")
    expanded = "#chatbot .thought-group .title.expanded"
    was_open = page.locator(expanded).count() > 0
    title.tap()
    page.wait_for_function(
        f"!!document.querySelector({expanded!r}) === {str(not was_open).lower()}"
    )
    assert_fits(page)
    screenshot(page, "phone-thinking-toggled")
    assert_in_reach(page, "#chatbot .thought-group .title")
    page.locator("#chatbot .thought-group .title").last.tap()
    page.wait_for_function(f"!!document.querySelector({expanded!r}) === {str(was_open).lower()}")
    assert_in_reach(page, "#send")
    assert_in_reach(page, "#stop")

    # the conversation list: the question just asked is in it
    toggle(page, "conversations", want_open=True)
    listing = page.locator("#conversation-list")
    listing.get_by_text("12 plus 30").first.wait_for(timeout=10_000)
    assert_in_reach(page, "#conversation-list label")
    assert_in_reach(page, "#new-chat")
    assert_fits(page)
    screenshot(page, "phone-conversations")


def test_a_wide_screen_keeps_the_drawers_open(page):
    """The desktop page (tests/browser.py's 1400 px page) is as it was: both drawers
    open beside the chat."""
    page.wait_for_timeout(1000)  # the page's load scripts have run
    assert page.locator("#settings-drawer > button.label-wrap.open").count() == 1
    assert page.locator("#conversations-drawer > button.label-wrap.open").count() == 1
    assert page.locator("#budget").is_visible()
    chat = page.locator("#chatbot").bounding_box()
    settings = page.locator("#settings-column").bounding_box()
    assert settings["x"] > chat["x"] + chat["width"] - 1  # beside it, not below
