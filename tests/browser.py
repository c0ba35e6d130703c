"""Playwright helpers for the browser tests: a real headless Chromium (Debian's), the
running app, screenshots kept under ``artifacts/screenshots/``, and a record of every
request that left 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: Any, url: str, fresh: bool = True) -> tuple[Any, PageRecorder]:
    """A new page at ``url`` (waits until the Gradio app has rendered).

    ``fresh`` opens a new chat (``?new=1``); else the page opens the conversation used
    last, as a user's reload does."""
    if fresh:
        url += ("&" if "?" in url else "?") + "new=1"
    recorder = PageRecorder()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.on("request", recorder.on_request)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#chatbot", timeout=30_000)
    return page, recorder


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
    """The real app, started in-process on a free port (``port`` or the next) with
    ``home`` as its seedchat home.

    The home is set for the start only: everything the app needs from it (settings,
    the model, the database) is opened then. The model is the bundled demo (a fresh
    home has no last model); ``SEEDCHAT_TEST_MODEL`` names another GGUF to use instead.
    """
    from seedchat.ui.launch import LaunchOptions, start

    old = os.environ.get("SEEDCHAT_HOME")
    os.environ["SEEDCHAT_HOME"] = str(home)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        running = start(
            LaunchOptions(port=port, open_browser=False),
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
