"""Nothing the page shows makes the browser fetch from outside (issue 30, point 3), in the
real app and a real Chromium: outside images in a saved conversation (answer, thinking,
tool result, question and its document) and in a reply being streamed by the real
llama.cpp (the demo model's tokens scripted: ``Engine.script_next_reply``) point at a
listener on ANOTHER loopback address (127.0.0.2) that counts requests; it must count none,
and the page must show the placeholders. The Content-Security-Policy is checked on its
own (an image put into the page by script is refused), and under it the page chats."""

from __future__ import annotations

import base64
import hashlib
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seedchat.documents.read import Document
from seedchat.settings import ChatSettings
from seedchat.ui.csp import POLICY
from tests.browser import screenshot, send, set_budget, wait_done

# a 1x1 PNG: what the listener answers, and the data: image that must still show
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
DATA_PNG = "data:image/png;base64," + base64.b64encode(PNG).decode()
PLACEHOLDERS = "#chatbot .outside-image a"


@dataclass
class Listener:
    """An HTTP server on 127.0.0.2 (outside the page's origin) that counts requests."""

    url: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    found: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found.append((self.path, dict(self.headers)))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Listener(f"http://127.0.0.2:{server.server_address[1]}", found)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def violations(page) -> list[str]:
    """The Content-Security-Policy violations ``page`` reports in its console."""
    found: list[str] = []
    page.on(
        "console",
        lambda m: found.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return found


def images(out: str, name: str) -> str:
    """Outside images of every spelling, each at its own address (``name``-…)."""
    return (
        f'![md]({out}/{name}-md.png) <img src="{out}/{name}-html.png">\n\n'
        f'<IMG SRC={out}/{name}-upper.png> <img srcset="{out}/{name}-srcset.png 2x">\n\n'
        f"![ref][{name}]\n\n[{name}]: {out}/{name}-ref.png\n"
    )


def save_conversation(store, out: str) -> None:
    """A conversation as the store keeps it: a question with a document, an answer that
    thinks and calls a tool, the tool's result, the final answer; outside images in each."""
    conv = store.create_conversation(title="Outside images")
    text = f"![doc]({out}/document.png) <img src={out}/document-html.png>"
    document = Document(
        "notes.md", "markdown", text, len(text), hashlib.sha256(text.encode()).hexdigest()
    )
    store.add_message(
        conv.id, "user", "Describe " + images(out, "question"), attachments=[document]
    )
    settings = ChatSettings(budget=512).to_record()
    store.add_message(
        conv.id,
        "assistant",
        "",
        thinking="Looking. " + images(out, "thinking"),
        thinking_tokens=40,
        tool_calls=[{"id": "call-1", "name": "fetch_page", "arguments": {"url": f"{out}/page"}}],
        stats={"thinking_seconds": 1.5},
        finish_reason="tool_calls",
        settings=settings,
    )
    media = [
        {"kind": "image", "mime_type": "image/png", "data": base64.b64encode(PNG).decode()},
        {"kind": "resource_link", "uri": f"{out}/tool-link.png", "name": "linked"},
    ]
    store.add_message(
        conv.id,
        "tool",
        images(out, "tool"),
        tool_call_id="call-1",
        tool_name="fetch_page",
        stats={"server": "web", "seconds": 0.25, "media": media},
    )
    answer = (
        images(out, "answer")
        + f'\n\n<picture><source srcset="{out}/answer-picture.webp"></picture>'
        + f'<svg width="9" height="9"><image href="{out}/answer-svg.png"/></svg>'
        + f"<div style=\"background:url('{out}/answer-css.png')\">styled</div>"
        + f'<video poster="{out}/answer-poster.png"></video><audio src="{out}/answer.mp3"></audio>'
        + f'<iframe src="{out}/answer-frame"></iframe><link rel=stylesheet href="{out}/a.css">'
        + f"\n\nShown: ![tiny]({DATA_PNG}) and a link: [the docs]({out}/docs).\n\n"
        + f'Code stays as written: `<img src="{out}/code.png">`\n'
    )
    store.add_message(
        conv.id, "assistant", answer, stats={"thinking_seconds": 0.0}, settings=settings
    )


def open_block(page, title: str) -> None:
    page.get_by_text(title).first.click()


def test_a_saved_conversation_with_outside_images_fetches_nothing(new_page, app, listener, browser):
    out = listener.url
    save_conversation(app.running.blocks.seedchat_store, out)
    page = new_page(fresh=False)  # the conversation used last: this one
    page.get_by_text("Code stays as written").wait_for(timeout=30_000)
    open_block(page, "fetch_page · web")  # the tool's card
    page.locator('#chatbot img[src^="data:image/png"]').nth(1).wait_for(timeout=15_000)
    shown = page.locator(PLACEHOLDERS)
    # answer (14), tool result: its text is a code block, shown as written (0)
    assert shown.count() >= 14
    open_block(page, "Thinking")
    page.locator(PLACEHOLDERS, has_text="127.0.0.2").nth(shown.count() - 1).wait_for()
    page.wait_for_timeout(1500)  # anything the page would fetch has been asked for by now
    screenshot(page, "outside-images-saved")
    assert listener.requests == []
    assert new_page.outside(page) == []
    text = page.locator("#chatbot").inner_text()
    assert "image from 127.0.0.2 — open" in text
    assert f'<img src="{out}/code.png">' in text  # code is shown as written
    assert f"![md]({out}/tool-md.png)" in text  # the tool's result too (in its code block)
    for link in shown.all():  # HTML links (one stood in an SVG), opening a new tab
        assert link.evaluate("a => a.namespaceURI") == "http://www.w3.org/1999/xhtml"
        assert link.get_attribute("target") == "_blank"
        assert set(link.get_attribute("rel").split()) >= {"noopener", "noreferrer"}
        assert link.get_attribute("href").startswith(out)
    assert page.locator(f'#chatbot a[href="{out}/docs"]').count() == 1  # a link stays a link
    tiny = page.locator(f'#chatbot img[src="{DATA_PNG}"]')
    assert tiny.first.evaluate("img => img.complete && img.naturalWidth") == 1  # data: shows
    # the person opens one on purpose: a new tab, no referrer
    with page.context.expect_page() as opened:
        shown.first.click()
    opened.value.wait_for_load_state()
    assert listener.requests[0][0] == "/question-md.png"  # (then the new tab's favicon)
    assert "Referer" not in listener.requests[0][1]  # the page's address is not sent
    assert not any(app.url in str(headers) for _, headers in listener.requests)


def test_a_streamed_reply_with_outside_images_fetches_nothing(page, app, listener, violations):
    out = listener.url
    start = len(listener.requests)
    app.host.wait_loaded(120)
    app.host.engine.script_next_reply(
        f"<seed:think>Look: ![t]({out}/stream-think.png)</seed:think>"
        f"Here ![a]({out}/stream-md.png) and <img src={out}/stream-html.png> done."
    )
    send(page, "Show me a picture.")
    wait_done(page)
    answer = page.locator("#chatbot [data-testid=bot]").last
    answer.locator(".outside-image a").nth(1).wait_for(timeout=15_000)
    assert "done." in answer.inner_text()
    page.wait_for_timeout(1000)
    screenshot(page, "outside-images-streamed")
    assert listener.requests[start:] == []
    assert violations == []  # nothing was even tried: the policy had nothing to refuse


def test_raw_html_in_an_answer_stays_sanitized(new_page, app):
    store = app.running.blocks.seedchat_store
    conv = store.create_conversation(title="Hostile HTML")
    store.add_message(conv.id, "user", "hi")
    hostile = (
        "Before <script>window.pwned = 1</script> "
        '<img src="x.png" onerror="window.pwned = 2"> '
        '<svg onload="window.pwned = 3"><circle r="2"/></svg> '
        '<iframe src="/"></iframe> <form action="/"><button>go</button></form> '
        '<a href="javascript:window.pwned = 4" id="js-link">js link</a> '
        '<details open ontoggle="window.pwned = 5"><summary>s</summary>d</details> '
        '<object data="/"></object> <embed src="/"> after.'
    )
    store.add_message(conv.id, "assistant", hostile)
    page = new_page(fresh=False)
    page.get_by_text("after.").first.wait_for(timeout=30_000)
    page.get_by_text("js link").first.click()
    page.wait_for_timeout(1000)
    assert page.evaluate("window.pwned") is None
    chat = page.locator("#chatbot")
    for tag in ("script", "iframe", "form", "object", "embed"):
        assert chat.locator(f"[data-testid=bot] {tag}").count() == 0, tag
    handlers = chat.evaluate(
        "el => [...el.querySelectorAll('[data-testid=bot] *')].flatMap(n => "
        "[...n.attributes].map(a => a.name)).filter(n => n.startsWith('on'))"
    )
    assert handlers == []
    assert chat.locator('a[href^="javascript"]').count() == 0


def test_the_policy_is_on_every_response(app):
    for path in ("", "config", "v1/models", "api/tags", "gradio_api/info"):
        with urllib.request.urlopen(app.url + path, timeout=30) as response:
            assert response.headers["Content-Security-Policy"] == POLICY, path
            assert response.headers["Referrer-Policy"] == "no-referrer"
            assert response.headers["X-DNS-Prefetch-Control"] == "off"
    assert "img-src 'self' data: blob:" in POLICY and "connect-src 'self'" in POLICY


def test_the_policy_refuses_what_the_rewrite_would_miss(page, listener, violations):
    """An image, a background, a font and a fetch put into the page by script (as if the
    rewrite had missed them): the browser refuses each, the listener counts none."""
    start = len(listener.requests)
    out = listener.url
    page.evaluate(
        """([out]) => {
          const img = document.createElement('img');
          img.src = out + '/policy-img.png';
          document.body.appendChild(img);
          const div = document.createElement('div');
          div.style.background = `url(${out}/policy-css.png)`;
          div.textContent = 'x';
          document.body.appendChild(div);
          const style = document.createElement('style');
          style.textContent = `@font-face { font-family: f; src: url(${out}/f.woff2) }
                               body { font-family: f }`;
          document.head.appendChild(style);
          fetch(out + '/policy-fetch').catch(() => {});
        }""",
        [out],
    )
    page.wait_for_function("() => true")
    page.wait_for_timeout(1500)
    assert listener.requests[start:] == []
    assert len(violations) >= 3, violations


def test_under_the_policy_the_page_chats_with_the_demo_model(page, app, violations):
    set_budget(page, 0)
    send(page, "Hello there")
    wait_done(page)
    answer = page.locator("#chatbot [data-testid=bot]").last.inner_text()
    assert answer.strip() and "Error" not in answer
    assert violations == []
