"""OpenAI's API over the app's one loaded model: :func:`create_api` makes the ``/v1``
application (``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``). Each request
is turned into seedchat's own types (:mod:`seedchat.api.requests`), runs as a
:class:`~seedchat.api.calls.Call` and its events go out in OpenAI's shapes
(:mod:`seedchat.api.responses`), as server-sent events or whole. Every error is in
OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from seedchat.api.calls import (
    SSE,
    ApiError,
    ApiOptions,
    Call,
    allow_origins,
    api_error,
    check_unicode,
    invalid_field,
    loaded_model,
    require_key,
    respond,
)
from seedchat.api.requests import (
    ChatRequest,
    CompletionRequest,
    chat_settings,
    stop_sequences,
    tools_of,
)
from seedchat.api.responses import Reply
from seedchat.api.schema import (
    OPENAI_ERRORS,
    OPENAI_READ,
    ChatCompletion,
    ChatCompletionChunk,
    ModelList,
    OpenAIError,
    TextCompletion,
    sse_event,
    streamed,
)
from seedchat.engine.host import ModelHost
from seedchat.errors import RequestError
from seedchat.seed.tool_calls import prompt_messages
from seedchat.settings import ChatSettings


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
            check_unicode(body.model_dump())
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


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    param, message = invalid_field(exc.errors())
    kind = exc.errors()[0].get("type") if exc.errors() else None
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
    api.add_api_route(
        "/models",
        routes.models,
        methods=["GET"],
        response_model=None,
        responses={200: {"model": ModelList}, **OPENAI_READ},
    )
    for path, endpoint, whole, chunk in (
        ("/chat/completions", routes.chat, ChatCompletion, ChatCompletionChunk),
        ("/completions", routes.complete, TextCompletion, TextCompletion),
    ):
        events = sse_event(chunk, OpenAIError)
        responses = streamed(whole, SSE.media_type, events, OPENAI_ERRORS)
        api.add_api_route(
            path, endpoint, methods=["POST"], response_model=None, responses=responses
        )
    allow_origins(api, options.cors_origins)
    return api
