"""The page's password on every route (whenever the page asks for one: ``--lan``,
``--password``): :class:`PasswordGate`, an ASGI middleware in front of gradio's app.

gradio's own login covers the page's config, its queue (``/gradio_api/queue/join``,
``queue/data``), uploads and files, but not its other routes (``/gradio_api/heartbeat``,
``cancel``, ``reset``, ``stream``, ``startup-events``, ``runs``) nor ``/health`` beside
the page. The gate answers 401 to any request without a session (gradio's cookie, whose
token gradio keeps in ``app.tokens``) or the API key, except:

- the login page and what it loads (``/``, where gradio shows the login form to a
  visitor without a session; ``/login``; the front end's files under ``/assets`` and
  ``/static``; ``/theme.css``, ``/favicon.ico``), and ``/gradio_api/startup-events``,
  which gradio asks of itself once as it starts;
- ``/v1`` and ``/api``, which ask for the key themselves (in LAN mode the password).

When the password changes (:class:`seedchat.ui.lan.KeptPassword`), every session opened
before is ended (gradio's tokens dropped) before the request is looked at.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import cookie_parser

from seedchat.api.guard import send_whole
from seedchat.ui.lan import KeptPassword

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset(
    {"/", "/login", "/login/", "/theme.css", "/favicon.ico", "/robots.txt"}
    | {"/gradio_api/startup-events"}  # gradio asks it of itself at start (runs once)
)
OPEN_PREFIXES = ("/assets/", "/static/")
KEYED_PREFIXES = ("/v1/", "/api/")  # the API asks for its key itself


class PasswordGate:
    """ASGI middleware: no route of the page without a session or the key (see the module)."""

    def __init__(
        self,
        app: Any,
        password: KeptPassword,
        key: Callable[[], str | None] | None = None,
        keyed: tuple[str, ...] = KEYED_PREFIXES,
    ) -> None:
        self.app = app
        self.password = password
        self.key = key  # the API's key now (None: none), also good for /health and the like
        self.keyed = keyed  # the API's prefixes when it is served (it asks for its key)
        self._generation = password.generation

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self.password.current()  # a changed password is noticed here
        if self.password.generation != self._generation:
            self._generation = self.password.generation
            _end_sessions(scope)
        path = scope.get("path", "")
        if open_path(path) or path.startswith(self.keyed) or self._signed_in(scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})
        else:
            await _unauthorized(send)

    def _signed_in(self, scope: dict) -> bool:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = self.key() if self.key is not None else None
        given = headers.get("authorization", "")
        if key and hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            return True
        app = scope.get("app")
        tokens = getattr(app, "tokens", None) or {}
        cookie_id = getattr(app, "cookie_id", None)
        cookies = cookie_parser(headers.get("cookie", ""))
        names = (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}")
        return any(cookies.get(name) in tokens for name in names if cookies.get(name))


def open_path(path: str) -> bool:
    """Whether ``path`` is served without a session: the login page and its files."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _end_sessions(scope: dict) -> None:
    tokens = getattr(scope.get("app"), "tokens", None)
    if tokens:
        tokens.clear()
        log.info("ended the sessions opened with the old password")


async def _unauthorized(send: Any) -> None:
    body = {"detail": {"error": "Not authenticated", "auth_message": "Log in first."}}
    await send_whole(send, 401, json.dumps(body).encode(), b"application/json")
