"""Who may talk to a listener of seedchat: the names it answers to and the pages that may
change anything (an ASGI middleware in front of every listener: the page with ``/v1`` and
``/api`` beside it, and ``seedchat serve``).

- **Host**: a request is served only when its ``Host`` header names this machine as
  seedchat knows it: ``127.0.0.1``, ``localhost``, ``[::1]`` (any port), the address it
  listens on (for a wildcard, this machine's LAN address and its name), and the names in
  the ``allowed_hosts`` setting. Anything else gets 403 with a short reason, logged once
  per name. This is what stops DNS rebinding: a web page whose own name was made to
  resolve to 127.0.0.1 talks to the listener as a *same-origin* page, and only its
  ``Host`` header gives it away.
- **Origin**: a request that could change something (any method but GET, HEAD and
  OPTIONS; a websocket; an HTTP upgrade) whose ``Origin`` is present and is neither the
  listener itself (the scheme's host and port equal the ``Host`` header) nor one of the
  origins the user allowed (``--cors-origin``) gets 403. Clients that are not browsers
  send no ``Origin`` and are not affected.

Starlette's ``TrustedHostMiddleware`` is not used: it cuts the port at the first colon
(``[::1]:7860`` becomes ``[``) and answers 400 without saying why.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from seedchat.errors import SeedchatError
from seedchat.network import WILDCARDS, lan_address

log = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
MAX_LOGGED = 1000  # refused names logged once each, up to this many


def split_host(value: str) -> tuple[str, int | None]:
    """A ``Host`` header's (or a setting's) name, lowercase, and its port (None if none):
    ``[::1]:7860`` → ``("::1", 7860)``, ``Example.LAN.`` → ``("example.lan", None)``."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = (value[1:end], value[end + 1 :]) if end > 0 else ("", "")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, port = value.split(":", 1)
    else:  # no port, or an IPv6 address without brackets (a setting)
        name, port = value, ""
    return name.rstrip("."), int(port) if port.isdigit() else None


def host_name(value: str) -> str:
    """The name of a ``Host`` header or setting, without its port (see :func:`split_host`)."""
    return split_host(value)[0]


def listener_names(listen: str, allowed: Iterable[str] = ()) -> frozenset[str]:
    """The names a listener on ``listen`` answers to: loopback's, ``listen`` itself (for a
    wildcard: this machine's LAN address and its host name), and ``allowed``."""
    names = set(LOOPBACK_NAMES)
    if listen in WILDCARDS:
        names.add(socket.gethostname().lower())
        with contextlib.suppress(SeedchatError):  # none: loopback and the allowed names
            names.add(lan_address())
    else:
        names.add(host_name(listen))
    names.update(host_name(name) for name in allowed if isinstance(name, str) and name.strip())
    return frozenset(names)


class Guard:
    """ASGI middleware: the Host check and the Origin check of this module's docstring,
    for HTTP and websocket scopes (others, such as lifespan, pass)."""

    def __init__(
        self,
        app: Any,
        names: frozenset[str] = LOOPBACK_NAMES,
        origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.names = frozenset(names)
        self.origins = frozenset(origin.rstrip("/").lower() for origin in origins)
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        reason = self.host_refusal(host) or self.origin_refusal(scope, headers, host)
        if reason is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect; closing before accepting answers 403
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
        else:
            await _forbidden(send, reason)

    def host_refusal(self, host: str) -> str | None:
        """Why a request with this ``Host`` header is refused, or None."""
        name = host_name(host)
        if name in self.names:
            return None
        self._log_once(name or "(none)", host)
        if not name:
            return "seedchat refused this request: it has no Host header."
        return (
            f"seedchat refused this request: {name!r} is not a name it answers to (the Host "
            "header). To reach seedchat by that name, add it to allowed_hosts in settings.json."
        )

    def origin_refusal(self, scope: dict, headers: dict[str, str], host: str) -> str | None:
        """Why a request that could change something is refused for its ``Origin``, or None."""
        origin = headers.get("origin")
        if origin is None or not _changes_state(scope, headers):
            return None
        if origin.rstrip("/").lower() in self.origins:
            return None
        try:
            parts = urlsplit(origin)
            theirs = (host_name(parts.netloc), parts.port or DEFAULT_PORTS.get(parts.scheme))
        except ValueError:
            theirs = None
        scheme = "http" if scope.get("scheme") in ("http", "ws") else "https"
        name, port = split_host(host)
        if theirs is not None and theirs == (name, port or DEFAULT_PORTS[scheme]):
            return None
        log.warning("refused a request to %s from a page at %s", scope.get("path"), origin)
        return (
            f"seedchat refused this request: a page of another site ({origin}) may not change "
            "anything here."
        )

    def _log_once(self, name: str, host: str) -> None:
        with self._lock:
            if name in self._logged or len(self._logged) >= MAX_LOGGED:
                return
            self._logged.add(name)
        log.warning(
            "refused a request for host %r: not a name seedchat answers to "
            "(add it to allowed_hosts in settings.json if it should be)",
            host,
        )


def _headers(scope: dict) -> dict[str, str]:
    """The request's headers, names lowercase; the first of a repeated one."""
    found: dict[str, str] = {}
    for key, value in scope.get("headers", ()):
        found.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return found


def _changes_state(scope: dict, headers: dict[str, str]) -> bool:
    """Whether a request could change something: a websocket, an upgrade (a websocket
    asked of a server that treats it as HTTP), or any method but GET, HEAD and OPTIONS."""
    if scope["type"] == "websocket" or "upgrade" in headers:
        return True
    return scope.get("method", "GET") not in SAFE_METHODS


async def _forbidden(send: Any, reason: str) -> None:
    await send_whole(
        send,
        403,
        (reason + "\n").encode(),
        b"text/plain; charset=utf-8",
        [(b"x-content-type-options", b"nosniff")],
    )


async def send_whole(
    send: Any,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer an ASGI HTTP request from a middleware: ``status`` and the whole ``body``."""
    fixed = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": fixed + (headers or [])}
    )
    await send({"type": "http.response.body", "body": body})
