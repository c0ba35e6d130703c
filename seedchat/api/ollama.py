"""Ollama's API over the app's one loaded model, beside ``/v1`` (mounted at ``/api``).

:func:`create_ollama_api` makes the application of ``GET /api/version``, ``GET /api/tags``,
``POST /api/show``, ``GET /api/ps``, ``POST /api/chat`` and ``POST /api/generate``, for the
tools that speak Ollama's API (VS Code's Ollama provider, Open WebUI, the ``ollama``
clients). It is a second face of the same machinery as ``/v1``
(:mod:`seedchat.api.calls`): a request becomes a :class:`~seedchat.settings.ChatSettings`
(:mod:`seedchat.api.ollama_shapes`), its reply runs through the one answer path in an
:class:`~seedchat.chat.pump.EventPump` (:func:`~seedchat.api.calls.respond`), in the host's
one-model queue (past it a 429 with ``Retry-After``), saved by the same saver and behind
the same key. Replies stream as newline-delimited JSON (Ollama's default) or come whole
with ``stream: false``; a client that goes away stops its reply. Every error is Ollama's
shape, ``{"error": "..."}``, with a 4xx/5xx status.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from seedchat.api.calls import (
    ApiError,
    ApiOptions,
    Call,
    Wire,
    allow_origins,
    api_error,
    check_unicode,
    invalid_field,
    loaded_model,
    require_key,
    respond,
)
from seedchat.api.ollama_shapes import (
    OLLAMA_VERSION,
    OllamaChatRequest,
    OllamaGenerateRequest,
    OllamaReply,
    ShowRequest,
    chat_messages,
    generate_messages,
    loaded,
    model_entry,
    ollama_settings,
    ollama_stops,
    ollama_tools,
    plain_name,
    running_entry,
    show,
)
from seedchat.api.requests import preset_system_first
from seedchat.api.schema import (
    OLLAMA_ERRORS,
    OLLAMA_READ,
    OllamaChatResponse,
    OllamaError,
    OllamaGenerateResponse,
    OllamaPs,
    OllamaShow,
    OllamaTags,
    OllamaVersion,
    json_line,
    streamed,
)
from seedchat.engine.host import ModelHost, local_engine
from seedchat.errors import RequestError, SeedchatError
from seedchat.settings import ChatSettings


def _ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


NDJSON = Wire("application/x-ndjson", _ndjson, lambda err: {"error": api_error(err).message})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _OllamaRoutes:
    """The handlers of ``/api``, over one host."""

    def __init__(self, host: ModelHost, options: ApiOptions) -> None:
        self.host, self.options = host, options

    # -- the model ---------------------------------------------------------------------

    def model(self, name: str) -> str:
        """The loaded model's id, when ``name`` (with or without ``:latest``) names it."""
        return loaded_model(self.host, plain_name(name))

    def context(self) -> int | None:
        engine = local_engine(self.host)
        return engine.n_ctx if engine is not None else None

    def memory(self) -> tuple[int, int]:
        engine = local_engine(self.host)
        if engine is None:
            return 0, 0
        plan = engine.plan
        gpu = plan.gpu_bytes if plan.n_gpu_layers else 0
        return plan.ram_bytes + gpu, gpu

    def version(self) -> dict[str, Any]:
        return {"version": OLLAMA_VERSION}

    def tags(self) -> dict[str, Any]:
        model_id = self.host.model_id
        if model_id is None:
            return {"models": []}
        return {"models": [model_entry(model_id, self.host.info)]}

    def ps(self) -> dict[str, Any]:
        model_id = self.host.model_id
        if model_id is None:
            return {"models": []}
        entry = running_entry(model_id, self.host.info, self.context(), self.memory())
        return {"models": [entry]}

    def show(self, body: ShowRequest) -> dict[str, Any]:
        name = body.model or body.name
        if not name:
            raise ApiError(400, "The request lacks the model's name ('model').")
        model_id = self.model(name)
        base = ChatSettings.from_settings(self.host.settings)
        return show(model_id, self.host.info, self.context(), base)

    # -- replies -----------------------------------------------------------------------

    def settings(self, body: OllamaChatRequest | OllamaGenerateRequest) -> ChatSettings:
        check_unicode(body.model_dump())
        base = ChatSettings.from_settings(self.host.settings)
        return ollama_settings(body, base, self.context())

    async def chat(self, body: OllamaChatRequest, request: Request) -> Any:
        model = self.model(body.model)
        if not body.messages:
            return loaded(body.model, chat=True)
        try:
            settings = self.settings(body)
            preset_system_first(body.messages, settings)
            messages = chat_messages(body.messages)
            reply = OllamaReply(body.model, ollama_tools(body), ollama_stops(body))
        except RequestError as err:
            raise api_error(err) from err
        call = Call(self.host, messages, settings, reply)
        if self.options.saver is not None:
            call.recording = self.options.saver.start(messages, settings, model)
        return await respond(call, body.stream, request, NDJSON)

    async def generate(self, body: OllamaGenerateRequest, request: Request) -> Any:
        self.model(body.model)
        if not body.prompt:
            return loaded(body.model, chat=False)
        try:
            settings = self.settings(body)
            reply = OllamaReply(body.model, stop=ollama_stops(body), chat=False, raw=body.raw)
        except RequestError as err:
            raise api_error(err) from err
        prompt = body.prompt if body.raw else generate_messages(body)
        call = Call(self.host, prompt, settings, reply, raw=body.raw)
        return await respond(call, body.stream, request, NDJSON)


# -- errors in Ollama's shape ---------------------------------------------------------------


def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return _error(exc.status, exc.message, exc.headers)


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return _error(400, invalid_field(exc.errors())[1])


def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    return _error(exc.status_code, str(exc.detail))


def _seedchat_error(_request: Request, exc: SeedchatError) -> JSONResponse:
    error = api_error(exc)
    return _error(error.status, error.message, error.headers)


def create_ollama_api(host: ModelHost, options: ApiOptions | None = None) -> FastAPI:
    """The ``/api`` application (its routes named without the prefix): mount it at /api."""
    options = options or ApiOptions()
    routes = _OllamaRoutes(host, options)
    api = FastAPI(
        title="seedchat Ollama-compatible API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(require_key(options.api_key))],
    )
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(SeedchatError, _seedchat_error)
    reads = {"/version": (routes.version, OllamaVersion), "/tags": (routes.tags, OllamaTags)}
    reads["/ps"] = (routes.ps, OllamaPs)
    for path, (endpoint, model) in reads.items():
        responses = {200: {"model": model}, **OLLAMA_READ}
        api.add_api_route(path, endpoint, methods=["GET"], response_model=None, responses=responses)
    show_errors = {200: {"model": OllamaShow}, **OLLAMA_ERRORS}
    api.add_api_route(
        "/show", routes.show, methods=["POST"], response_model=None, responses=show_errors
    )
    for path, endpoint, reply in (
        ("/chat", routes.chat, OllamaChatResponse),
        ("/generate", routes.generate, OllamaGenerateResponse),
    ):
        line = json_line(reply, OllamaError)
        responses = streamed(reply, NDJSON.media_type, line, OLLAMA_ERRORS)
        api.add_api_route(
            path, endpoint, methods=["POST"], response_model=None, responses=responses
        )
    allow_origins(api, options.cors_origins)
    return api
