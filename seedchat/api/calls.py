"""What both API faces share: one reply asked by a client (:class:`Call`), run through
the one answer path (:func:`seedchat.chat.answer.answer`, as the page's turns are) in the
model's own thread and sent streamed in a :class:`Wire`'s framing or whole
(:func:`respond`); errors in OpenAI's shape (:class:`ApiError`, :func:`api_error`), the
key (:func:`require_key`) and the origins a browser page may call from
(:func:`allow_origins`).

OpenAI's routes (:mod:`seedchat.api.openai`) and Ollama's (:mod:`seedchat.api.ollama`)
build on this module and never on each other; :mod:`seedchat.api.app` puts them
together. The host serves first come, first served, with a bounded queue (past it a 429
with ``Retry-After``); a client that goes away stops its generation within a token; every
error is a 4xx/5xx and the server keeps serving.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse

from seedchat.chat.answer import AnswerRecording, answer
from seedchat.chat.fitting import fit_request
from seedchat.chat.pump import EventPump
from seedchat.engine.host import ModelBusy, ModelHost, NoModelLoaded
from seedchat.errors import ContextLengthError, RequestError, SeedchatError
from seedchat.events import Event
from seedchat.seed.template import Message
from seedchat.settings import ChatSettings

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
#: The least time between two chunks of a streamed reply (seconds): the server's loop and
#: its client wake at most 20 times a second and not once per token, which on a small
#: machine leaves the model its cores (the first text and the end go at once;
#: docs/benchmarks.md: 20 ms left SmolLM2's chats at 0.94-0.96x the engine, 50 ms 0.98-1.0x).
STREAM_PACE = 0.05


class Saver(Protocol):
    """Saves a chat request and its answer (seedchat.api.saving.ApiSaver)."""

    def start(
        self, messages: list[Message], settings: ChatSettings, model: str
    ) -> AnswerRecording | None: ...


@dataclass(frozen=True)
class ApiOptions:
    # None: no key asked (only allowed on loopback); a function: the key as it is now
    api_key: str | Callable[[], str | None] | None = None
    cors_origins: tuple[str, ...] = ()
    saver: Saver | None = None  # None: API conversations are not saved


class ApiError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.param, self.code, self.headers = param, code, headers

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def api_error(err: SeedchatError) -> ApiError:
    """The HTTP answer to one of seedchat's errors."""
    text = f"{err.message} {err.hint}" if err.hint else err.message
    if isinstance(err, RequestError):
        return ApiError(400, text, param=err.param)
    if isinstance(err, ModelBusy):
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return ApiError(429, text, "rate_limit_error", code="model_busy", headers=headers)
    if isinstance(err, ContextLengthError):
        return ApiError(400, text, param="messages", code="context_length_exceeded")
    if isinstance(err, NoModelLoaded):
        return ApiError(503, text, "server_error", code="model_not_loaded")
    return ApiError(500, text, "server_error")


def _sse(chunks: list[dict[str, Any]]) -> str:
    return "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks)


@dataclass(frozen=True)
class Wire:
    """How a streamed reply is framed: OpenAI's server-sent events (:data:`SSE`) or
    Ollama's newline-delimited JSON (``seedchat.api.ollama``)."""

    media_type: str
    frame: Callable[[list[dict[str, Any]]], str]  # chunks → the text sent
    error: Callable[[SeedchatError], dict[str, Any]]  # an error after the first byte
    end: str = ""  # after the last chunk


SSE = Wire("text/event-stream", _sse, lambda err: api_error(err).body(), "data: [DONE]\n\n")


# -- one request ---------------------------------------------------------------------------


class ReplyShape(Protocol):
    """A reply in a client's shapes, fed the events as they come (``responses.Reply`` for
    OpenAI's, ``ollama_shapes.OllamaReply`` for Ollama's)."""

    tools: list[dict[str, Any]] | None

    @property
    def stopped(self) -> bool: ...  # a stop sequence was met: the model should stop

    def opening(self) -> list[dict[str, Any]]: ...

    def feed(self, events: list[Event]) -> list[dict[str, Any]]: ...

    def finish(self) -> list[dict[str, Any]]: ...

    def completion(self) -> dict[str, Any]: ...


@dataclass
class Call:
    """One generation asked by a client: the host's events as a reply (and saved, if the
    server saves)."""

    host: ModelHost
    messages: Any  # a list of template.Message, or the text of a plain completion
    settings: ChatSettings
    reply: ReplyShape
    raw: bool = False
    recording: AnswerRecording | None = None  # the saver's, when the server saves
    cancel: threading.Event = field(default_factory=threading.Event)

    def start(self) -> EventPump:
        """The one answer path, in the model's own thread."""

        def events() -> Iterator[Event]:
            messages, notices = self.messages, []
            if not self.raw:  # files that do not fit: passages of them (seedchat.chat.fitting)
                options = self.settings.generation_options(tools=self.reply.tools)
                messages, notices = fit_request(self.host.engine, messages, options)
            for notice in notices:
                if self.recording is not None:
                    self.recording.on_event(notice)
                yield notice
            yield from answer(
                self.host,
                messages,
                self.settings,
                self.cancel,
                self.recording,
                raw=self.raw,
                tools=self.reply.tools,
            )

        return EventPump(events, self.cancel.set)

    def take(self, events: list[Event]) -> list[dict[str, Any]]:
        chunks = self.reply.feed(events)
        if self.reply.stopped:
            self.cancel.set()  # a stop sequence: the model stops here
        return chunks


async def _first(pump: EventPump) -> tuple[AsyncIterator[list[Event]], list[Event]]:
    """The first batch, before any byte is sent: an error here is still a proper 4xx."""
    batches = pump.abatches(pace=STREAM_PACE)
    try:
        return batches, await anext(batches)
    except StopAsyncIteration:
        return batches, []
    except SeedchatError as err:
        raise api_error(err) from err


async def _stream(call: Call, pump: EventPump, wire: Wire) -> AsyncIterator[str]:
    try:
        batches, first = await _first(pump)
        yield wire.frame(call.reply.opening() + call.take(first))
        try:
            async for events in batches:
                yield wire.frame(call.take(events))
        except SeedchatError as err:  # after the first byte: an error event in the stream
            yield wire.frame([wire.error(err)]) + wire.end
            return
        yield wire.frame(call.reply.finish()) + wire.end
    finally:
        pump.close(timeout=None)  # also when the client went away: the model stops within a token


async def _whole(call: Call, pump: EventPump, request: Request) -> dict[str, Any]:
    try:
        batches, first = await _first(pump)
        call.take(first)
        async for events in batches:
            call.take(events)
            if await request.is_disconnected():
                break
    except SeedchatError as err:
        raise api_error(err) from err
    finally:
        pump.close(timeout=None)
    return call.reply.completion()


async def respond(call: Call, stream: bool, request: Request, wire: Wire = SSE) -> Any:
    """The call's reply, streamed in ``wire``'s framing or whole; an error before the
    first byte is raised as an :class:`ApiError`."""
    pump = call.start()
    if not stream:
        return await _whole(call, pump, request)
    chunks = _stream(call, pump, wire)
    first = await anext(chunks)  # errors before the first byte become a 4xx
    return StreamingResponse(
        _chain(first, chunks),
        media_type=wire.media_type,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def loaded_model(host: ModelHost, name: str) -> str:
    """The loaded model's id when ``name`` names it, else an ApiError (404, or 503 when
    none is loaded)."""
    if host.model_id is None:
        host.wait_loaded(60)
    loaded = host.model_id
    if loaded is None:
        raise ApiError(503, "No model is loaded.", "server_error", code="model_not_loaded")
    if name not in (loaded, host.model_name, host.display_name):
        raise ApiError(
            404,
            f"The model {name!r} is not loaded; this server has {loaded!r}.",
            param="model",
            code="model_not_found",
        )
    return loaded


async def _chain(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for part in rest:
        yield part


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_unicode(value: Any, where: str = "") -> None:
    """A RequestError naming the first string of a request (a key or a value, at any depth)
    that holds a lone surrogate: JSON's ``\\ud800`` escapes parse to text no encoder, the
    tokenizer's nor the store's, can write."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise RequestError(
                f"{where or 'The request'} holds text that is not valid Unicode "
                "(a lone surrogate escape such as \\ud800).",
                param=where or None,
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            check_unicode(str(key), where)
            check_unicode(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_unicode(item, f"{where}[{i}]")


#: pydantic's names for the branches of a union in an error's location: not a field's name.
_BRANCH = re.compile(
    r"(str|int|float|bool|none|list|dict|literal|function-\w+|json-or-python|is-instance)(\[.*\])?"
)


def invalid_field(errors: list[Any]) -> tuple[str | None, str]:
    """The field a request failed validation on (``a.b.0.c``, None: the body itself) and
    what is wrong with it, from FastAPI's ``RequestValidationError.errors()``."""
    first = errors[0] if errors else {}
    where = [
        str(part)
        for part in first.get("loc", ())
        if part != "body" and not (isinstance(part, str) and _BRANCH.fullmatch(part))
    ]
    param = ".".join(where) or None
    kind = first.get("type", "")
    if kind == "json_invalid":
        return param, "The request body is not valid JSON."
    if kind == "missing":
        return param, f"The request lacks the required field {param!r}."
    if param is None:
        return param, "The request body must be a JSON object."
    return param, f"Invalid value for {param!r}: {first.get('msg', 'not allowed')}."


def allow_origins(api: FastAPI, origins: tuple[str, ...]) -> None:
    """Let web pages from ``origins`` call ``api`` (none: no browser page may)."""
    if origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )


def require_key(key: str | Callable[[], str | None] | None) -> Callable[[Request], None]:
    """The dependency that asks every request for ``Authorization: Bearer <key>`` (a
    function: the key it returns at each request, such as LAN mode's password)."""

    def check(request: Request) -> None:
        wanted = key() if callable(key) else key
        if wanted is None or request.method == "OPTIONS":
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {wanted}".encode()):
            missing = "No API key was given" if not given else "The API key is not right"
            raise ApiError(
                401, f"{missing}: send 'Authorization: Bearer <key>'.", code="invalid_api_key"
            )

    return check
