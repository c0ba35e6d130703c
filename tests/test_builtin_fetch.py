"""The built-in fetch tool: public addresses only (checked after DNS and at each redirect,
refused before any connection), the page's main text (a real HTTP server on loopback)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seedchat.tools.builtin.fetch import FetchLimits, FetchTool, public_address

ARTICLE = """<!doctype html><html><head><title>Tides</title></head><body>
<nav><a href="/">Home</a> <a href="/shop">Shop the catalogue</a></nav>
<article><h1>How tides work</h1>
<p>The Moon's gravity pulls the oceans into two bulges, one facing the Moon and one on the
far side of the Earth. As the Earth turns, each coast passes through both bulges every day,
which is why most places see two high tides and two low tides about every 24 hours and
50 minutes.</p>
<p>The Sun adds its own smaller pull. When the Sun and the Moon line up, at new and full
moon, their pulls add and the tides are larger: these are the spring tides. At the quarter
moons they pull at right angles and the tides are smaller, the neap tides.</p>
</article>
<footer>Copyright Example Corp. Subscribe to our newsletter.</footer>
</body></html>"""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", self.path[len("/to/") :])
            self.end_headers()
            return
        body = ARTICLE.encode() if self.path == "/article" else b"x" * 100_000
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture
def no_connections(monkeypatch) -> list:
    """Fails a test that would open any connection that is not to the loopback."""
    made: list = []
    real = socket.socket.connect

    def connect(self, address):
        made.append(address)
        assert str(address[0]) in ("127.0.0.1", "::1"), f"connected to {address}"
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return made


def fetch(tool: FetchTool, url: str) -> tuple[str, bool]:
    outcome = tool.call("fetch_url", {"url": url}, threading.Event())
    return outcome.text, outcome.is_error


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "https://192.168.1.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
    ],
)
def test_addresses_of_this_machine_and_its_network_are_refused(url, no_connections):
    text, is_error = fetch(FetchTool(FetchLimits(seconds=2)), url)
    assert is_error and "not a public address" in text
    assert no_connections == []


def test_other_schemes_are_refused(no_connections):
    for url in ("file:///etc/passwd", "ftp://example.org/", "gopher://x/"):
        text, is_error = fetch(FetchTool(), url)
        assert is_error and "not an http(s) address" in text


def test_the_test_switch_allows_only_its_own_port(server, no_connections):
    text, is_error = fetch(FetchTool(), f"http://127.0.0.1:{server}/article")
    assert is_error and "not a public address" in text and no_connections == []
    text, is_error = fetch(
        FetchTool(allow_loopback_ports=[server]), f"http://127.0.0.1:{server}/article"
    )
    assert not is_error


def test_the_main_text_of_a_page_without_its_menus(server, no_connections):
    tool = FetchTool(allow_loopback_ports=[server])
    text, is_error = fetch(tool, f"http://localhost:{server}/article")
    assert not is_error and text.startswith(f"URL: http://localhost:{server}/article")
    assert "two high tides and two low tides" in text and "neap tides" in text
    assert "Shop the catalogue" not in text and "newsletter" not in text


def test_a_redirect_to_loopback_is_refused(server, no_connections):
    tool = FetchTool(allow_loopback_ports=[server])
    other = server + 1 if server < 65535 else server - 1
    for target in (f"http://127.0.0.1:{other}/", "http://169.254.169.254/", "http://[::1]/"):
        text, is_error = fetch(tool, f"http://127.0.0.1:{server}/to/{target}")
        assert is_error and "not a public address" in text, target
    assert {port for _, port, *rest in no_connections} == {server}
    text, is_error = fetch(tool, f"http://127.0.0.1:{server}/to//article")
    assert not is_error and "spring tides" in text


def test_a_big_page_is_cut(server):
    tool = FetchTool(FetchLimits(max_bytes=4096, max_chars=100_000), allow_loopback_ports=[server])
    text, is_error = fetch(tool, f"http://127.0.0.1:{server}/big")
    assert not is_error and text.count("x") <= 4096


def test_public_addresses():
    assert public_address("93.184.216.34") and public_address("2606:4700::1111")
    for ip in (
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "0.0.0.0",
        "224.0.0.1",
        "::ffff:10.0.0.1",
    ):
        assert not public_address(ip), ip
