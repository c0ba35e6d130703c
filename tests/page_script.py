"""Scripted replies in the page: the demo model writes each given reply token by token
(``script_next_reply``), a tool call spelled as the model spells it; reading the chat."""

from __future__ import annotations

import json
import time
from typing import ClassVar

from seedchat.engine.host import ModelHost

CALL = "<seed:tool_call>\n<function={name}>\n{params}</function>\n</seed:tool_call>"


def call(name: str, **params: str) -> str:
    inside = "".join(f"<parameter={k}>{v}</parameter>\n" for k, v in params.items())
    return CALL.format(name=name, params=inside)


class Script:
    """The replies the demo model writes next, and the prompt of each reply given."""

    replies: ClassVar[list[str]] = []
    prompts: ClassVar[list[str]] = []


_generate = ModelHost.generate


def scripted_generate(self, messages, options, cancel=None):
    if Script.replies and not isinstance(messages, str):
        Script.prompts.append(self.render(messages, options))
        results = [m.content for m in messages if m.role == "tool"]
        said = _datetime(results[-1]) if results else "?"
        self.engine.script_next_reply(Script.replies.pop(0).replace("{datetime}", said))
    return _generate(self, messages, options, cancel)


def _datetime(result: str) -> str:
    try:
        return json.loads(result).get("datetime", "?")
    except ValueError:
        return "?"


def chat_text(page) -> str:
    return page.locator("#chatbot").inner_text()


def wait_text(page, pattern: str, timeout_ms: int = 120_000) -> None:
    page.wait_for_function(
        "([p]) => new RegExp(p).test(document.querySelector('#chatbot').innerText)",
        arg=[pattern],
        timeout=timeout_ms,
    )


def settled(app, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while app.host.busy and time.monotonic() < deadline:
        time.sleep(0.05)
