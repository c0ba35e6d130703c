"""The page's early script goes first in its <head> (seedchat.ui.frames); nothing else is
touched."""

from __future__ import annotations

import asyncio

from seedchat.ui.frames import SCRIPT, EarlyScript, with_early_script


def test_the_script_goes_first_in_the_head():
    html = b'<!doctype html><html><HEAD lang="en"><script type="module" src="a.js"></script>'
    out = with_early_script(html)
    assert out.startswith(b'<!doctype html><html><HEAD lang="en">' + SCRIPT + b"<script type")
    assert with_early_script(b"<p>no head</p>") == b"<p>no head</p>"
    assert with_early_script(b"<header>a page part</header>") == b"<header>a page part</header>"


def _served(content_type: str, body: bytes, method: str = "GET", more: bool = False) -> list:
    async def app(scope, receive, send):
        headers = [(b"content-type", content_type.encode())]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if more:  # the same page in two parts
            await send({"type": "http.response.body", "body": body[:5], "more_body": True})
            body_rest = body[5:]
        else:
            body_rest = body
        await send({"type": "http.response.body", "body": body_rest})

    sent: list = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/", "headers": []}
    asyncio.run(EarlyScript(app)(scope, None, send))
    return sent


def test_the_middleware_writes_it_into_pages_only():
    page = b"<html><head><title>x</title></head></html>"
    for more in (False, True):
        start, body = _served("text/html; charset=utf-8", page, more=more)
        assert body["body"] == with_early_script(page)
        assert dict(start["headers"])[b"content-length"] == str(len(body["body"])).encode()
    for content_type, method in (("application/json", "GET"), ("text/html", "POST")):
        sent = _served(content_type, page, method=method)
        assert [m.get("body") for m in sent[1:]] == [page]
