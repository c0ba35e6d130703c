"""`seedchat chat` as a real command whose model replies are scripted: the demo model on
the real llama.cpp writes each reply given in ``SCRIPTED_REPLIES`` (a JSON list) token by
token (``Engine.script_next_reply``), for what the demo model cannot write yet (a Seed
tool call). ``{datetime}`` in a reply is the ``datetime`` of the last tool result in the
prompt the model was given, so a scripted answer can only quote a result that reached
the model. Run as ``python -m tests.scripted_chat chat …``."""

from __future__ import annotations

import json
import os
import sys

from seedchat.cli import main
from seedchat.engine.host import ModelHost

REPLIES: list[str] = json.loads(os.environ.get("SCRIPTED_REPLIES", "[]"))
_generate = ModelHost.generate


def generate(self, messages, options, cancel=None):
    if REPLIES and not isinstance(messages, str):
        results = [m.content for m in messages if m.role == "tool"]
        said = _datetime(results[-1]) if results else "?"
        self.engine.script_next_reply(REPLIES.pop(0).replace("{datetime}", said))
    return _generate(self, messages, options, cancel)


def _datetime(result: str) -> str:
    try:
        return json.loads(result).get("datetime", "?")
    except ValueError:  # an error or a declined call: not the time
        return "?"


ModelHost.generate = generate

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
