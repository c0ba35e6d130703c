"""The built-in ``fetch`` tool: ``fetch_url(url)``, an HTTP(S) GET of a public page as
readable text (off by default: a page can say anything to the model, and reading one tells
its server what you asked about).

Only public addresses are reached. The host name is resolved here, each of its addresses
checked (loopback, private, link-local, the cloud metadata address, shared, reserved and
multicast ones are refused), and the connection made to the checked address itself (the
name kept for the ``Host`` header and TLS), so a second DNS answer cannot swap it. Redirects
are followed by hand, each new address checked the same way. The page is read up to
``fetch_max_bytes`` within ``fetch_timeout`` seconds; HTML's main text is extracted with
trafilatura (the page's menus and footers left out), a PDF read as attachments are, plain
text and JSON kept as they are.

``allow_loopback_ports`` lets a test reach its own loopback server; the app never sets it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from seedchat.documents.read import DocumentError, html_text, read_document
from seedchat.settings import Settings, load_settings
from seedchat.tools.builtin.spec import function_spec, one_argument_call
from seedchat.tools.protocol import ToolOutcome

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
USER_AGENT = "seedchat-fetch/1 (+https://github.com/seedchat)"

FETCH_URL = function_spec(
    "fetch_url",
    "Fetch a public web page (http or https) and return its main text.",
    "url",
    "the page's address",
)


class FetchRefused(Exception):
    """A URL the fetch tool will not reach, or a page it could not read (said to the model)."""


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 2 * 1024 * 1024
    seconds: float = 15.0
    max_chars: int = 16384  # the text handed back (the tool result's room)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, max_chars: int = 16384):
        settings = settings or load_settings()
        return cls(
            int(settings.get("fetch_max_bytes")), float(settings.get("fetch_timeout")), max_chars
        )


def public_address(ip: str) -> bool:
    """Whether ``ip`` is a public unicast address (no loopback, private, link-local — the
    metadata address 169.254.169.254 among them —, shared, reserved or multicast one)."""
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Target:
    """A URL checked: where to connect (``ip``) and what to say the host is."""

    url: str
    scheme: str
    host: str
    port: int
    ip: str

    def connect_url(self) -> str:
        parts = urlsplit(self.url)
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        path = parts.path or "/"
        return f"{self.scheme}://{ip}:{self.port}{path}" + (
            f"?{parts.query}" if parts.query else ""
        )


class FetchTool:
    def __init__(
        self, limits: FetchLimits | None = None, allow_loopback_ports: Collection[int] = ()
    ) -> None:
        self.limits = limits or FetchLimits.from_settings()
        self._test_ports = frozenset(allow_loopback_ports)

    def specs(self) -> list[dict[str, Any]]:
        return [FETCH_URL]

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        def run(url: str) -> tuple[str, bool]:
            try:
                return self.fetch(url.strip(), cancel), False
            except FetchRefused as err:
                return f"Error: {err}", True

        return one_argument_call(name, arguments, run, "fetch_url", "url")

    # -- where it may go ----------------------------------------------------------------

    def check(self, url: str) -> Target:
        """``url`` resolved and checked; FetchRefused (before any connection) else."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchRefused(f"{url!r} is not an http(s) address.")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchRefused(f"{url!r} has a wrong port.") from exc
        addresses = self._addresses(parts.hostname, port)
        for ip in addresses:
            if not (public_address(ip) or self._test_loopback(ip, port)):
                raise FetchRefused(
                    f"{parts.hostname} is at {ip}, not a public address: the fetch tool "
                    "reaches only public web pages (never this machine or its network)."
                )
        return Target(url, parts.scheme, parts.hostname, port, addresses[0])

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchRefused(f"the name {host} cannot be resolved ({exc}).") from exc
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def _test_loopback(self, ip: str, port: int) -> bool:
        return port in self._test_ports and ipaddress.ip_address(ip).is_loopback

    # -- the fetch ----------------------------------------------------------------------

    def fetch(self, url: str, cancel: threading.Event | None = None) -> str:
        deadline = time.monotonic() + self.limits.seconds
        with httpx.Client(timeout=self.limits.seconds, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                target = self.check(url)
                body, kind, location = self._get(client, target, deadline, cancel)
                if location is None:
                    return self._readable(target.url, body, kind)
                url = urljoin(target.url, location)
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects.")

    def _get(self, client: httpx.Client, target: Target, deadline: float, cancel):
        host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        headers = {"Host": host, "User-Agent": USER_AGENT, "Accept": "text/html,*/*;q=0.5"}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = client.build_request(
            "GET", target.connect_url(), headers=headers, extensions=extensions
        )
        try:
            response = client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise FetchRefused(f"{target.url} could not be reached: {exc}.") from exc
        try:
            if response.is_redirect and "location" in response.headers:
                return b"", "", response.headers["location"]
            if response.status_code >= 400:
                raise FetchRefused(f"{target.url} answered {response.status_code}.")
            body = self._read(response, deadline, cancel)
            return body, response.headers.get("content-type", ""), None
        finally:
            response.close()

    def _read(self, response: httpx.Response, deadline: float, cancel) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            if cancel is not None and cancel.is_set():
                raise FetchRefused("cancelled.")
            if time.monotonic() > deadline:
                raise FetchRefused(f"the page took longer than {self.limits.seconds:g} s.")
            chunks.append(chunk)
            size += len(chunk)
            if size >= self.limits.max_bytes:
                log.info("fetch: %s cut at %d bytes", response.url, self.limits.max_bytes)
                break
        return b"".join(chunks)[: self.limits.max_bytes]

    def _readable(self, url: str, body: bytes, content_type: str) -> str:
        kind = content_type.split(";")[0].strip().lower()
        if kind == "application/pdf" or body.startswith(b"%PDF-"):
            try:
                text = read_document(body, name="page.pdf").text
            except DocumentError as err:
                raise FetchRefused(err.message) from err
        elif kind in ("text/html", "application/xhtml+xml") or not kind:
            text = main_text(body.decode("utf-8", errors="replace"))
        elif kind.startswith("text/") or kind.endswith(("json", "xml")):
            text = body.decode("utf-8", errors="replace")
        else:
            raise FetchRefused(f"{url} is {kind}, not a page of text.")
        return self._cut(f"URL: {url}\n\n{text.strip()}\n")

    def _cut(self, text: str) -> str:
        room = self.limits.max_chars
        if len(text) <= room:
            return text
        return text[:room] + f"\n[cut: the first {room:,} of {len(text):,} characters are shown]"


def main_text(html: str) -> str:
    """A page's main text (trafilatura; the whole text when it finds no main part)."""
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=True)
    return text if text and text.strip() else html_text(html)
