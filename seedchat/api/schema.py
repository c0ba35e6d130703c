"""The API as documented: what every route answers, as pydantic models, and the one OpenAPI
document of a listener (``GET /openapi.json``).

FastAPI builds each route's schema from its request model (:mod:`seedchat.api.requests`,
:mod:`seedchat.api.ollama_shapes`) and the ``responses=`` given here: a route's answer
(:data:`OPENAI_ERRORS`, :func:`streamed`), each error it can give, in OpenAI's shape on
``/v1`` (:class:`OpenAIError`) and Ollama's on ``/api`` (:class:`OllamaError`), and the
streamed replies' media types (``text/event-stream``: each event's ``data`` one JSON chunk
or ``[DONE]``; ``application/x-ndjson``: each line one object). The models forbid fields
they do not name, so a field the server sends without documenting it breaks the schema
(the Schemathesis test, ``tests/test_openapi.py``, finds it).

:func:`openapi_document` composes the one document of a server: ``/v1`` and ``/api`` are
applications of their own, mounted (each with its own error shape), so their routes are
included into one document with their prefixes; no application answers 422 (a request
that does not validate gets a 400 naming the field), so FastAPI's 422 entries are left out.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

Obj = dict[str, Any]
_REF = "#/components/schemas/{model}"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors -------------------------------------------------------------------------------


class OpenAIErrorBody(_Shape):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(_Shape):
    """Every error of ``/v1`` (and an error event inside a stream)."""

    error: OpenAIErrorBody


class OllamaError(_Shape):
    """Every error of ``/api`` (and an error line inside a stream)."""

    error: str


# -- seedchat's own reports (both APIs) ---------------------------------------------------------


class ReflectReport(_Shape):
    used: int | None
    remaining: int | None
    exhausted: bool
    true_count: int
    injected: bool


class ThinkingReport(_Shape):
    tokens: int
    seconds: float
    forced: bool
    unclosed: bool


class NoticeReport(_Shape):
    text: str
    kind: str
    passages: list[str] | None = None  # a retrieval notice's passages


class Health(_Shape):
    """``GET /health``: ``ok`` (200) once a model is loaded, else ``loading`` or ``no model``
    (503)."""

    status: Literal["ok", "loading", "no model"]
    model: str | None = None
    busy: bool | None = None
    waiting: int | None = None
    error: str | None = None


# -- OpenAI's /v1 ----------------------------------------------------------------------------

FinishReason = Literal["stop", "length", "tool_calls"]


class ModelAbout(_Shape):
    name: str
    file: str | None = None
    architecture: str | None = None
    quantization: str | None = None
    context_length: int | None = None


class ModelCard(_Shape):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    seedchat: ModelAbout


class ModelList(_Shape):
    object: Literal["list"]
    data: list[ModelCard]


class FunctionCall(_Shape):
    name: str
    arguments: str  # a JSON object, as text


class ToolCallOut(_Shape):
    id: str
    type: Literal["function"]
    function: FunctionCall


class ToolCallDelta(ToolCallOut):
    index: int


class CachedTokens(_Shape):
    cached_tokens: int


class ReasoningTokens(_Shape):
    reasoning_tokens: int


class Usage(_Shape):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: CachedTokens
    completion_tokens_details: ReasoningTokens


class AssistantMessage(_Shape):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None
    reasoning: str | None
    tool_calls: list[ToolCallOut] | None = None
    seedchat_reflects: list[ReflectReport]
    seedchat_thinking: ThinkingReport | None = None
    seedchat_notices: list[NoticeReport] | None = None


class ChatChoice(_Shape):
    index: int
    message: AssistantMessage
    logprobs: None
    finish_reason: FinishReason


class ChatCompletion(_Shape):
    """``POST /v1/chat/completions`` with ``stream: false``."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class Delta(_Shape):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    seedchat_reflect: ReflectReport | None = None
    seedchat_thinking: ThinkingReport | None = None
    seedchat_notice: NoticeReport | None = None


class ChunkChoice(_Shape):
    index: int
    delta: Delta
    logprobs: None
    finish_reason: FinishReason | None


class ChatCompletionChunk(_Shape):
    """One event of a streamed chat completion (the last, with ``stream_options.include_usage``,
    has no choices and the usage)."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class TextChoice(_Shape):
    index: int
    text: str
    logprobs: None
    finish_reason: FinishReason | None


class TextCompletion(_Shape):
    """``POST /v1/completions``: the whole reply, or one event of a streamed one."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[TextChoice]
    usage: Usage | None = None


# -- Ollama's /api ---------------------------------------------------------------------------


class OllamaVersion(_Shape):
    version: str


class OllamaDetails(_Shape):
    parent_model: str
    format: str
    family: str
    families: list[str] | None
    parameter_size: str
    quantization_level: str


class OllamaModel(_Shape):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: OllamaDetails


class OllamaTags(_Shape):
    models: list[OllamaModel]


class OllamaRunning(_Shape):
    name: str
    model: str
    size: int
    digest: str
    details: OllamaDetails
    size_vram: int
    expires_at: str
    context_length: int


class OllamaPs(_Shape):
    models: list[OllamaRunning]


class OllamaShow(_Shape):
    license: str
    modelfile: str
    parameters: str
    template: str
    details: OllamaDetails
    model_info: dict[str, Any]
    capabilities: list[str]
    modified_at: str


class OllamaFunctionCall(_Shape):
    index: int
    name: str
    arguments: dict[str, Any]


class OllamaToolCall(_Shape):
    function: OllamaFunctionCall


class _OllamaReports(_Shape):
    """seedchat's reports: one per streamed object, all of them in a whole reply."""

    seedchat_reflect: ReflectReport | None = None
    seedchat_thinking: ThinkingReport | None = None
    seedchat_notice: NoticeReport | None = None
    seedchat_reflects: list[ReflectReport] | None = None
    seedchat_notices: list[NoticeReport] | None = None


class OllamaMessage(_OllamaReports):
    role: Literal["assistant"]
    content: str
    thinking: str | None = None
    tool_calls: list[OllamaToolCall] | None = None


class _OllamaReply(_Shape):
    model: str
    created_at: str
    done: bool
    done_reason: Literal["stop", "length", "load"] | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class OllamaChatResponse(_OllamaReply):
    """``POST /api/chat``: the whole reply (``stream: false``) or one line of a stream (the
    last with ``done: true`` and the counts)."""

    message: OllamaMessage


class OllamaGenerateResponse(_OllamaReply, _OllamaReports):
    """``POST /api/generate``: the whole reply or one line of a stream."""

    response: str
    thinking: str | None = None


# -- each route's responses ------------------------------------------------------------------

_WHY = {
    400: "The request is not valid: the message names the field.",
    401: "The API key is missing or wrong ('Authorization: Bearer <key>').",
    404: "The model (or the path) is not this server's.",
    429: "The model is busy and the queue is full: try again after Retry-After seconds.",
    500: "The model failed while answering.",
    503: "No model is loaded (yet).",
}
_FORBIDDEN = {
    "description": "The request's Host or Origin is not one this server answers to.",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}
_RETRY = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}


def errors(model: type[BaseModel], *statuses: int) -> dict[int | str, Obj]:
    """The errors of a route, in ``model``'s shape (and 403, the Host check's plain text)."""
    found: dict[int | str, Obj] = {403: _FORBIDDEN}
    for status in statuses:
        found[status] = {"model": model, "description": _WHY[status]}
        if status == 429:
            found[status]["headers"] = _RETRY
    return found


#: A route of /v1 that only reads (the key; no model needed).
OPENAI_READ = errors(OpenAIError, 401)
#: A route of /v1 that asks the model.
OPENAI_ERRORS = errors(OpenAIError, 400, 401, 404, 429, 500, 503)
OLLAMA_READ = errors(OllamaError, 401)
OLLAMA_ERRORS = errors(OllamaError, 400, 401, 404, 429, 500, 503)


def _ref(model: type[BaseModel]) -> Obj:
    return {"$ref": _REF.format(model=model.__name__)}


def sse_event(*models: type[BaseModel]) -> Obj:
    """One server-sent event whose ``data`` is one of ``models`` as JSON, or ``[DONE]``."""
    json_data = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"anyOf": [_ref(m) for m in models]},
    }
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"anyOf": [{"const": "[DONE]"}, json_data]}},
    }


def json_line(*models: type[BaseModel]) -> Obj:
    """One line of newline-delimited JSON: one of ``models``."""
    return {"anyOf": [_ref(m) for m in models]}


def streamed(
    whole: type[BaseModel], media_type: str, part: Obj, failures: dict[int | str, Obj]
) -> dict[int | str, Obj]:
    """``responses=`` of a route that answers ``whole`` as JSON, or streamed in
    ``media_type`` (``part``: the schema of one event or line), and its ``failures``."""
    content = {media_type: {"schema": part}}
    ok = {"model": whole, "description": f"The reply whole (stream false) or as {media_type}."}
    return {200: {**ok, "content": content}, **failures}


#: Models only the streams name (FastAPI does not see them): added to the components.
STREAM_MODELS: tuple[type[BaseModel], ...] = (
    ChatCompletionChunk,
    TextCompletion,
    OpenAIError,
    OllamaChatResponse,
    OllamaGenerateResponse,
    OllamaError,
)


# -- the document ----------------------------------------------------------------------------


def openapi_document(
    title: str,
    version: str,
    top: list[APIRoute],
    mounted: dict[str, FastAPI],
    keyed: bool = False,
) -> Obj:
    """One OpenAPI 3.1 document for the ``top`` routes and the ``mounted`` applications
    (prefix → application), their paths under their prefixes; ``keyed``: the mounted
    routes ask for the API key (``Authorization: Bearer``)."""
    whole = FastAPI(title=title, version=version, docs_url=None, redoc_url=None)
    whole.router.routes.extend(top)
    for prefix, app in mounted.items():
        whole.include_router(app.router, prefix=prefix)
    document = whole.openapi()
    _without_422(document)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    _, extra = models_json_schema([(m, "serialization") for m in STREAM_MODELS], ref_template=_REF)
    for name, schema in extra.get("$defs", {}).items():
        components.setdefault(name, schema)
    if keyed:
        _with_key(document, tuple(mounted))
    return document


def _with_key(document: Obj, prefixes: tuple[str, ...]) -> None:
    document["components"]["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "the server's API key"}
    }
    for path, item in document["paths"].items():
        if path.startswith(prefixes):
            for operation in item.values():
                operation["security"] = [{"apiKey": []}]


def _without_422(document: Obj) -> None:
    """No route answers 422 (a request that does not validate gets a 400): FastAPI's
    validation-error entries and their schemas left out."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
