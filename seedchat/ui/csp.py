"""The page's Content-Security-Policy: the browser fetches only from the page itself.

Every response of the page's server (the page, gradio's routes and files, ``/v1`` and
``/api`` beside it) carries :data:`POLICY`: images, scripts, styles, fonts, media and
connections only from the page's own origin and ``data:``/``blob:``; no plugins, no frames,
no other page framing this one, forms posting only to the page (its login). What gradio
needs of its own origin was found by loading the page under the policy in Chromium (no
violation in the console, a chat answered: tests/test_ui_outside_images.py): inline styles
and scripts (its config and theme are inlined in the page), ``eval`` (it runs the page's
``js=`` hooks through ``new Function``), workers from ``blob:``. So even an outside image that
:mod:`seedchat.ui.outside_images` missed is never fetched, nor an outside font or script.

Also sent: no referrer, and no DNS prefetching of the links' hosts (a DNS lookup of a
name made up for the purpose would leak as much as a request). A plain ASGI middleware
(headers added to ``http.response.start``: streamed responses stay streamed), given to
the app gradio makes (:mod:`seedchat.ui.launch`).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders

DIRECTIVES = {
    "default-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "style-src": "'self' 'unsafe-inline'",
    "script-src": "'self' 'unsafe-inline' 'unsafe-eval'",
    "worker-src": "'self' blob:",
    "connect-src": "'self'",
    "frame-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
POLICY = "; ".join(f"{name} {value}" for name, value in DIRECTIVES.items())
HEADERS = {
    "content-security-policy": POLICY,
    "referrer-policy": "no-referrer",
    "x-dns-prefetch-control": "off",
}


class ContentSecurityPolicy:
    """ASGI middleware: :data:`HEADERS` on every HTTP response (a header the app already
    set is kept)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
