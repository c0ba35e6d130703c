"""Playwright helpers for the browser tests: a real headless Chromium (Debian's), the
running app, screenshots kept under ``artifacts/screenshots/``, and a record of every
request that left 127.0.0.1.

Fixtures (tests/conftest.py loads this module as a plugin: a test asks for them by name):

- ``browser``: one headless Chromium for the whole session (each page gets a browser
  context of its own);
- ``page``: a fresh page (a new chat) on the module's ``app``, closed after the test;
- ``outside_requests``: the requests that ``page`` made outside this machine (live);
- ``new_page``: opens more pages on the module's ``app``: ``new_page()`` a new chat,
  ``new_page(fresh=False)`` the conversation used last (as a reload does); all of them
  are closed after the test.

A test that runs its own app opens its pages with ``with Pages(browser, url) as pages:``
(``page = pages()``); they are closed when the block ends. ``with sized_page(browser, url,
size, touch=True) as page:`` opens one at a given size (a phone's: touch).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("SEEDCHAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class PageRecorder:
    """Requests a page made to hosts other than this machine."""

    outside: list[str] = field(default_factory=list)

    def on_request(self, request: Any) -> None:
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return
        host = urlparse(url).hostname or ""
        if host not in LOCAL_HOSTS:
            self.outside.append(url)


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as an artifact and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


#: How often a ``wait_for_function`` looks (ms). Playwright's default looks at every
#: animation frame, which makes a waiting page draw 60 frames a second and takes a core
#: from the model it waits for.
POLL_MS = 100


def _polled(wait: Any) -> Any:
    def wait_for_function(self, expression, *, arg=None, timeout=None, polling=None):
        polling = POLL_MS if polling is None else polling
        return wait(self, expression, arg=arg, timeout=timeout, polling=polling)

    return wait_for_function


def _poll_waits() -> None:
    """Every ``wait_for_function`` of the tests polls every :data:`POLL_MS` unless told."""
    from playwright.sync_api import Frame, Page

    for cls in (Page, Frame):
        if not getattr(cls.wait_for_function, "polled", False):
            cls.wait_for_function = _polled(cls.wait_for_function)
            cls.wait_for_function.polled = True


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the session, started by the first test that asks; each page is
    opened in a browser context of its own (``open_page``), so no test sees another's
    cookies, storage or pages."""
    from playwright.sync_api import sync_playwright
    from workers import every_core

    _poll_waits()
    with every_core():  # Playwright's driver and Chromium are not held to the worker's core
        playwright = sync_playwright().start()
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        _LOOP.show()  # the browser closes in whichever test ends the session
        chromium.close()
        playwright.stop()


class _PlaywrightLoop:
    """Playwright's sync API marks its event loop as the thread's running loop between its
    calls, for as long as the browser lives: ``asyncio.run`` then refuses to start. With
    one browser for the session, the tests that do not use it get a thread without it."""

    def __init__(self) -> None:
        self.hidden: asyncio.AbstractEventLoop | None = None

    def hide(self) -> None:
        loop = asyncio._get_running_loop()
        if loop is not None and self.hidden is None:
            self.hidden = loop
            asyncio._set_running_loop(None)

    def show(self) -> None:
        if self.hidden is not None:
            asyncio._set_running_loop(self.hidden)
            self.hidden = None


_LOOP = _PlaywrightLoop()


@contextlib.contextmanager
def _loop_hidden_unless_browser(item: pytest.Item) -> Iterator[None]:
    if "browser" in getattr(item, "fixturenames", ()):
        yield
        return
    _LOOP.hide()
    try:
        yield
    finally:
        _LOOP.show()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """A test without the browser (its fixtures too) runs with no event loop marked as
    running: setup, call and teardown."""
    with _loop_hidden_unless_browser(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _loop_hidden_unless_browser(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    with _loop_hidden_unless_browser(item):
        return (yield)


def page_events(url: str) -> tuple[dict[str, int], list[dict]]:
    """The page's components by ``elem_id`` (their ids) and its events (gradio's config):
    what a test needs to tell the page's requests to the server apart by ``fn_index``."""
    import httpx

    config = httpx.get(url.rstrip("/") + "/config", timeout=30).json()
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
    return ids, config["dependencies"]


def open_page(
    browser: Any, url: str, fresh: bool = True, script: str | None = None
) -> tuple[Any, PageRecorder]:
    """A new page at ``url`` (waits until the Gradio app has rendered), in a context of
    its own: close it with ``page.context.close()`` (the ``page`` and ``new_page``
    fixtures and ``Pages`` do that for you).

    ``fresh`` opens a new chat (``?new=1``); else the page opens the conversation used
    last, as a user's reload does. ``script`` runs in the page before its own scripts."""
    if fresh:
        url += ("&" if "?" in url else "?") + "new=1"
    recorder = PageRecorder()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        if script is not None:
            context.add_init_script(script)
        page = context.new_page()
        page.on("request", recorder.on_request)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#chatbot", timeout=30_000)
        # the conversation and the settings of the page's load are in place (seedchat.ui.app)
        page.wait_for_selector("body[data-seedchat-ready]", state="attached", timeout=30_000)
    except BaseException:
        context.close()
        raise
    return page, recorder


@contextlib.contextmanager
def sized_page(browser: Browser, url: str, size: dict, touch: bool = False) -> Iterator[Page]:
    """A new chat at ``url`` in a window of ``size`` (``{"width": 390, "height": 844}``;
    ``touch``: a phone's screen), in a browser context of its own, closed at the end."""
    context = browser.new_context(viewport=size, is_mobile=touch, has_touch=touch)
    try:
        page = context.new_page()
        page.goto(url + "?new=1", wait_until="domcontentloaded")
        page.wait_for_selector("#chatbot", timeout=30_000)
        yield page
    finally:
        context.close()


class Pages:
    """Opens pages on one app and closes them all at the end (a context manager).

    ``pages()``, ``pages(fresh=False)`` or ``pages(script=JS)`` opens one, as ``open_page``
    does, and returns the page; ``pages.outside(page)`` is the live list of requests it made outside this
    machine."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.browser = browser
        self.url = url
        self._opened: list[tuple[Page, PageRecorder]] = []

    def __call__(self, fresh: bool = True, script: str | None = None) -> Page:
        page, recorder = open_page(self.browser, self.url, fresh=fresh, script=script)
        self._opened.append((page, recorder))
        return page

    def outside(self, page: Page) -> list[str]:
        for opened, recorder in self._opened:
            if opened is page:
                return recorder.outside
        raise ValueError("that page was not opened here")

    def close(self) -> None:
        """Close every page opened here (its context), the last opened first."""
        from playwright.sync_api import Error as PlaywrightError

        while self._opened:
            page, _ = self._opened.pop()
            with contextlib.suppress(PlaywrightError):  # the browser is gone already
                page.context.close()

    def __enter__(self) -> Pages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class App:
    """The running app of one test module."""

    url: str
    running: Any
    home: Path

    @property
    def host(self) -> Any:
        return self.running.blocks.seedchat_host


@contextlib.contextmanager
def running_app(home: Path, port: int = 7870) -> Iterator[App]:
    """The real app, started in-process on a free port (``port`` or the next; under
    pytest-xdist from the worker's own range: tests/ports.py) with ``home`` as its
    seedchat home.

    The home is set for the start only: everything the app needs from it (settings,
    the model, the database) is opened then. The model is the bundled demo (a fresh
    home has no last model); ``SEEDCHAT_TEST_MODEL`` names another GGUF to use instead.
    """
    from ports import worker_port

    from seedchat.ui.launch import LaunchOptions, start

    old = os.environ.get("SEEDCHAT_HOME")
    os.environ["SEEDCHAT_HOME"] = str(home)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        running = start(
            LaunchOptions(port=worker_port(port), open_browser=False),
            model=os.environ.get("SEEDCHAT_TEST_MODEL") or None,
            block=False,
        )
    finally:
        if old is None:
            os.environ.pop("SEEDCHAT_HOME", None)
        else:
            os.environ["SEEDCHAT_HOME"] = old
    try:
        yield App(url=running.url, running=running, home=home)
    finally:
        running.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The real app of one test module, with its own fresh seedchat home."""
    with running_app(tmp_path_factory.mktemp("ui-home")) as running:
        yield running


@pytest.fixture
def new_page(browser: Browser, app: App) -> Iterator[Pages]:
    """Opens pages on the module's app: ``new_page()`` a new chat, ``new_page(fresh=False)``
    the conversation used last (a reload); every one is closed after the test."""
    with Pages(browser, app.url) as pages:
        yield pages


@pytest.fixture
def page(new_page: Pages) -> Page:
    """A fresh page (a new chat) on the module's app, closed after the test."""
    return new_page()


@pytest.fixture
def outside_requests(page: Page, new_page: Pages) -> list[str]:
    """The requests ``page`` made to hosts other than this machine (a live list)."""
    return new_page.outside(page)


def set_checked(page, locator, want: bool) -> None:
    """Set a checkbox and make sure it stays set: the page restores saved settings when it
    loads, which can flip a box back right after a click."""
    from playwright.sync_api import Error as PlaywrightError

    for _ in range(20):
        if locator.is_checked() == want:
            page.wait_for_timeout(250)
            if locator.is_checked() == want:
                return
        try:
            locator.set_checked(want, timeout=2000)
        except PlaywrightError:
            page.wait_for_timeout(200)
    raise AssertionError(f"the checkbox would not become {want}")


# -- chatting in the page ------------------------------------------------------------


def set_budget(page, value: int | None) -> None:
    """Choose a budget in the page; None is unlimited."""
    unlimited = page.locator("#unlimited input[type=checkbox]")
    if value is None:
        set_checked(page, unlimited, True)
        return
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    label = "answer directly" if value == 0 else f"{value} tokens"
    shows = f"document.querySelector('#budget-now').innerText.includes({label!r})"
    for _attempt in range(3):  # the page restoring saved settings as it loads can undo a fill
        set_checked(page, unlimited, False)
        box = page.locator("#budget input[type=number]")
        box.fill(str(value))
        box.press("Enter")
        try:
            page.wait_for_function(shows, timeout=10_000)
            return
        except PlaywrightTimeout:  # not shown: fill again
            continue
    try:
        page.wait_for_function(shows)
    except PlaywrightTimeout as err:
        seen = page.evaluate(
            "() => [document.querySelector('#budget-now')?.innerText,"
            " document.querySelector('#budget input[type=number]')?.value,"
            " document.querySelector('#unlimited input[type=checkbox]')?.checked]"
        )
        raise AssertionError(
            f"the budget note never showed {label!r}: note, box, unlimited = {seen}"
        ) from err


def send(page, text: str) -> None:
    page.locator("#message textarea").fill(text)
    page.locator("#send").click()


# The statistics line of a finished reply: not while gradio's pending timer ("0.4s") shows
# beside the previous reply's line, which is still there when a new turn starts.
_STATS_LINE = """
([prev]) => {
  const el = document.querySelector('#turn-stats');
  const lines = (el ? el.innerText : '').split('\\n').map(s => s.trim()).filter(Boolean);
  if (lines.some(l => /^\\d+(\\.\\d+)?s$/.test(l))) return null;
  const line = lines.find(l => l.includes('total'));
  return line && line !== prev ? line : null;
}
"""


def wait_done(page, timeout_ms: int = 90_000, previous: str = "") -> str:
    """Wait for the statistics line of a finished reply (other than ``previous``)."""
    handle = page.wait_for_function(_STATS_LINE, arg=[previous], timeout=timeout_ms)
    return handle.json_value()


def meter(page) -> str:
    """The context meter's text."""
    return page.locator("#context-meter").inner_text()


def wait_meter(page, *parts: str, timeout: int = 60_000) -> str:
    """Wait until the meter's text holds every one of ``parts``; the text."""
    page.wait_for_function(
        "(parts) => { const el = document.querySelector('#context-meter');"
        " return el && parts.every(p => el.innerText.includes(p)); }",
        arg=list(parts),
        timeout=timeout,
    )
    return meter(page)


def wait_title(page, title: str, timeout: int = 20_000) -> None:
    """Wait until the sidebar's "This conversation → Title" box shows ``title``."""
    page.wait_for_function(
        "(t) => document.querySelector('#conversation-title input')?.value === t",
        arg=title,
        timeout=timeout,
    )
