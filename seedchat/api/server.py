"""The OpenAI-compatible HTTP API over the app's one loaded model (FastAPI, no gradio).

:func:`create_api` makes the ``/v1`` application (``/v1/models``,
``/v1/chat/completions``, ``/v1/completions``); :func:`create_app` wraps it with
``/health`` for ``seedchat serve``, and the web UI mounts the same ``/v1`` application
beside its page, so both share one :class:`~seedchat.host.ModelHost`.

Each request is turned into seedchat's own types (:mod:`seedchat.api.requests`), runs
through the one answer path (:func:`seedchat.answer.answer`, as the page's turns do) on the
host (first come, first served, a bounded queue: past it a 429 with ``Retry-After``),
and its events go out in OpenAI's shapes (:mod:`seedchat.api.responses`), streamed as
server-sent events or whole (:func:`respond`, over one :class:`Call`; Ollama's routes,
:mod:`seedchat.api.ollama`, use the same with their own :class:`Wire`). The model decodes
in its own thread; a client that goes away stops its generation within a token. Every error is a 4xx/5xx in OpenAI's shape
``{"error": {"message", "type", "param", "code"}}``, and the server keeps serving.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.exceptions import HTTPException

from seedchat.answer import AnswerRecording, answer
from seedchat.api.requests import (
    ChatRequest,
    CompletionRequest,
    chat_settings,
    stop_sequences,
    tools_of,
)
from seedchat.api.responses import Reply
from seedchat.errors import ContextLengthError, RequestError, SeedchatError
from seedchat.events import Event
from seedchat.fitting import fit_request
from seedchat.host import ModelBusy, ModelHost, NoModelLoaded
from seedchat.prompt import Message
from seedchat.pump import EventPump
from seedchat.settings import ChatSettings
from seedchat.tool_calls import prompt_messages

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2


class Saver(Protocol):
    """Saves a chat request and its answer (seedchat.api.saving.ApiSaver)."""

    def start(
        self, messages: list[Message], settings: ChatSettings, model: str
    ) -> AnswerRecording | None: ...


@dataclass(frozen=True)
class ApiOptions:
    api_key: str | None = None  # None: no key asked (only allowed on loopback)
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
    messages: Any  # a list of prompt.Message, or the text of a plain completion
    settings: ChatSettings
    reply: ReplyShape
    raw: bool = False
    recording: AnswerRecording | None = None  # the saver's, when the server saves
    cancel: threading.Event = field(default_factory=threading.Event)

    def start(self) -> EventPump:
        """The one answer path, in the model's own thread."""

        def events() -> Iterator[Event]:
            messages, notices = self.messages, []
            if not self.raw:  # files that do not fit: passages of them (seedchat.fitting)
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
    batches = pump.abatches()
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


# -- the application ---------------------------------------------------------------------


class _Routes:
    """The handlers of ``/v1``, over one host."""

    def __init__(self, host: ModelHost, options: ApiOptions) -> None:
        self.host, self.options = host, options

    def check_model(self, name: str) -> str:
        return loaded_model(self.host, name)

    def models(self) -> dict[str, Any]:
        host, info = self.host, self.host.info
        if host.model_id is None:
            return {"object": "list", "data": []}
        about: dict[str, Any] = {"name": host.display_name}
        if info is not None:
            about.update(
                file=info.path.name,
                architecture=info.architecture,
                quantization=info.quantization,
                context_length=info.context_length,
            )
        entry = {
            "id": host.model_id,
            "object": "model",
            "created": 0,
            "owned_by": "seedchat",
            "seedchat": about,
        }
        return {"object": "list", "data": [entry]}

    def settings(self, body: ChatRequest | CompletionRequest) -> ChatSettings:
        try:
            return chat_settings(body, ChatSettings.from_settings(self.host.settings))
        except RequestError as err:
            raise api_error(err) from err

    async def chat(self, body: ChatRequest, request: Request) -> Any:
        model = self.check_model(body.model)
        settings = self.settings(body)
        try:
            messages = prompt_messages(body.messages)
            include = bool(body.stream_options and body.stream_options.include_usage)
            reply = Reply(model, tools_of(body), stop_sequences(body), include_usage=include)
        except RequestError as err:
            raise api_error(err) from err
        call = Call(self.host, messages, settings, reply)
        if self.options.saver is not None:
            call.recording = self.options.saver.start(messages, settings, model)
        return await respond(call, body.stream, request)

    async def complete(self, body: CompletionRequest, request: Request) -> Any:
        model = self.check_model(body.model)
        settings = self.settings(body)
        prompt = body.prompt if isinstance(body.prompt, str) else "".join(body.prompt)
        if not prompt:
            raise ApiError(400, "The prompt is empty.", param="prompt")
        try:
            include = bool(body.stream_options and body.stream_options.include_usage)
            reply = Reply(model, stop=stop_sequences(body), chat=False, include_usage=include)
        except RequestError as err:
            raise api_error(err) from err
        call = Call(self.host, prompt, settings, reply, raw=True)
        return await respond(call, body.stream, request)


async def _chain(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for part in rest:
        yield part


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(where) or None
    kind = first.get("type", "")
    if kind == "json_invalid":
        message = "The request body is not valid JSON."
    elif kind == "missing":
        message = f"The request lacks the required field {param!r}."
    else:
        message = f"Invalid value for {param!r}: {first.get('msg', 'not allowed')}."
    return ApiError(400, message, param=param, code=kind or None).response()


def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    return ApiError(exc.status_code, str(exc.detail), kind).response()


def create_api(host: ModelHost, options: ApiOptions | None = None) -> FastAPI:
    """The ``/v1`` application (its routes named without the prefix): mount it at /v1."""
    options = options or ApiOptions()
    routes = _Routes(host, options)
    api = FastAPI(
        title="seedchat API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(require_key(options.api_key))],
    )
    api.add_exception_handler(ApiError, lambda _r, exc: exc.response())
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_api_route("/models", routes.models, methods=["GET"])
    api.add_api_route("/chat/completions", routes.chat, methods=["POST"])
    api.add_api_route("/completions", routes.complete, methods=["POST"])
    allow_origins(api, options.cors_origins)
    return api


def allow_origins(api: FastAPI, origins: tuple[str, ...]) -> None:
    """Let web pages from ``origins`` call ``api`` (none: no browser page may)."""
    if origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )


def require_key(key: str | None) -> Callable[[Request], None]:
    """The dependency that asks every request for ``Authorization: Bearer <key>``."""

    def check(request: Request) -> None:
        if key is None or request.method == "OPTIONS":
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            missing = "No API key was given" if not given else "The API key is not right"
            raise ApiError(
                401, f"{missing}: send 'Authorization: Bearer <key>'.", code="invalid_api_key"
            )

    return check


def health(host: ModelHost) -> JSONResponse:
    """``GET /health``: 200 with the model once it is loaded, else 503 and why."""
    if host.loading is not None:
        loading = getattr(host.loading, "name", host.loading)
        return JSONResponse({"status": "loading", "model": str(loading)}, status_code=503)
    if host.model_id is None:
        return JSONResponse({"status": "no model", "error": host.error}, status_code=503)
    return JSONResponse(
        {
            "status": "ok",
            "model": host.model_id,
            "busy": host.busy,
            "waiting": host.turns.waiting,
        }
    )


def create_app(host: ModelHost, options: ApiOptions | None = None) -> FastAPI:
    """The whole API server (``seedchat serve``): ``/health``, ``/v1`` and Ollama's ``/api``."""
    from seedchat.api.ollama import create_ollama_api  # it builds on this module

    app = FastAPI(title="seedchat", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_api_route("/health", lambda: health(host), methods=["GET"])
    app.add_api_route("/", running, methods=["GET", "HEAD"])
    app.mount("/v1", create_api(host, options))
    app.mount("/api", create_ollama_api(host, options))
    return app


def running() -> PlainTextResponse:
    """``GET /``: what Ollama's clients probe for before they use ``/api``."""
    return PlainTextResponse("Ollama is running (seedchat: Ollama's API at /api, OpenAI's at /v1)")
