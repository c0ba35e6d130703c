"""Saving the API's conversations (``seedchat serve --save``), marked as from the API.

An API client sends the whole conversation with every request. The saver finds the saved
API conversation whose active branch the request continues (``Store.find_continued``), adds
the messages it does not have yet (a message's ``file`` parts as its attachments, apart from
its text, as ``seedchat chat --file`` saves them), and records the answer as it streams (the one answer
path's :class:`~seedchat.chat.answer.AnswerRecording`, as the page's answers are). A request that continues nothing starts a new
conversation. A store that fails never fails the request: it is logged and the answer is
sent anyway.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

from seedchat.api.calls import ApiOptions
from seedchat.chat.answer import AnswerRecording
from seedchat.chat.session import open_store
from seedchat.documents.read import detach
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings
from seedchat.store import Store, StreamRecorder

log = logging.getLogger(__name__)

ORIGIN = "api"


def _stored_tool_calls(message: Message) -> list[dict[str, Any]]:
    calls = []
    for call in message.tool_calls or []:
        function = call.get("function", call)
        calls.append({"name": function.get("name", ""), "arguments": function.get("arguments", {})})
    return calls


class ApiSaver:
    """Saves each request's new messages and its answer in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()  # two requests must not both start the same conversation

    def start(self, messages: list[Message], settings: ChatSettings, model: str) -> AnswerRecording:
        """The request's new messages saved, and the recording of its answer (which saves
        nothing when the store failed: the answer is sent anyway)."""

        def begin() -> StreamRecorder:
            with self._lock:
                conversation, leaf = self._continue(messages, settings, model)
                return self.store.record_stream(
                    conversation, parent_id=leaf, settings=settings.to_record(), model=model
                )

        return AnswerRecording.begin(begin)

    def _continue(
        self, messages: list[Message], settings: ChatSettings, model: str
    ) -> tuple[str, str | None]:
        turns = [(m.role, detach(m.content, m.attachments)) for m in messages]
        found = self.store.find_continued(turns, origin=ORIGIN)
        if found is None:
            record = settings.to_record()
            conversation = self.store.create_conversation(
                model=model, settings=record, origin=ORIGIN
            )
            conversation_id, leaf, matched = conversation.id, None, 0
        else:
            conversation_id, leaf, matched = found
        for (role, text), message in zip(turns[matched:], messages[matched:], strict=True):
            fields: dict[str, Any] = {}
            if message.tool_calls:
                fields["tool_calls"] = _stored_tool_calls(message)
            if message.attachments:  # a file part: kept apart, as the terminal's --file is
                fields["attachments"] = message.attachments
            leaf = self.store.add_message(conversation_id, role, text, parent_id=leaf, **fields).id
        return conversation_id, leaf


def saving_options(options: ApiOptions) -> tuple[ApiOptions, Store | None]:
    """``options`` that save every chat request (and the store, to close at the end)."""
    store, problem = open_store()
    if store is None:
        log.warning("the API's conversations will not be saved: %s", problem)
        return options, None
    return replace(options, saver=ApiSaver(store)), store
