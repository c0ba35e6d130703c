"""What an OpenAI client may ask, checked, and turned into seedchat's own types.

A request body is validated by the pydantic models below (unknown fields are accepted and
ignored, as OpenAI clients send many; the ones seedchat cannot honour are refused by name).
:func:`chat_settings` turns a request into the one :class:`~seedchat.settings.ChatSettings`
(the server's settings file gives the defaults, the request overrides them):

- the thinking budget from ``chat_template_kwargs.thinking_budget`` (vLLM's and llama.cpp's
  convention for Seed-OSS; the ``openai`` SDK sends it through ``extra_body``), else a
  top-level ``thinking_budget``, else ``reasoning_effort`` (:data:`EFFORT_BUDGETS`);
- enforcement hard by default, ``seedchat: {"enforce": "soft"}`` to change it;
- sampling, ``seed`` and ``max_tokens``/``max_completion_tokens``;
- ``seedchat: {"preset": NAME}``: a preset (:mod:`seedchat.presets`) over the server's
  defaults, under the request's own fields (a request that names a preset and a temperature
  gets the preset with that temperature). A preset's system prompt is the request's first
  message when it sends no system message (:func:`seedchat.presets.api_system_prompt`), as
  the page and the terminal send it.

Every problem is a :class:`~seedchat.errors.RequestError` naming the field (``param``), which
the server answers with a 400 in OpenAI's error shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from seedchat.errors import RequestError, SettingsError
from seedchat.presets import PresetError, api_system_prompt, load_presets
from seedchat.seed import budget as budgets
from seedchat.seed.tool_calls import ROLES
from seedchat.settings import FIELDS, ChatSettings

#: reasoning_effort → thinking budget (tokens); "minimal"/"none" answer directly.
EFFORT_BUDGETS = {"none": 0, "minimal": 0, "low": 512, "medium": 2048, "high": 8192}
MAX_STOP_SEQUENCES = 4

# What a chat message may hold, as documented (read by seedchat.seed.tool_calls.prompt_messages,
# which answers anything else with a 400 naming the field).
_TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
}
_FILE_PART = {
    "type": "object",
    "required": ["type", "file"],
    "properties": {
        "type": {"const": "file"},
        "file": {
            "type": "object",
            "required": ["filename", "file_data"],
            "properties": {
                "filename": {"type": "string", "minLength": 1},
                "file_data": {"type": "string", "description": "the file's bytes in base64"},
            },
        },
    },
}
_CALL = {
    "type": "object",
    "required": ["function"],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "arguments": {"type": ["string", "object"], "description": "a JSON object"},
            },
        },
    },
}
PARAMETERS = {
    "type": "object",
    "properties": {
        "properties": {"type": "object", "additionalProperties": {"type": "object"}},
        "required": {"type": "array", "items": {"type": "string"}},
    },
}
TEXT_FORMAT = {
    "anyOf": [{"type": "object", "properties": {"type": {"const": "text"}}}, {"type": "null"}],
    "description": "seedchat answers in text",
}
_CONTENT = [
    {"type": "string"},
    {"type": "array", "items": {"anyOf": [_TEXT_PART, _FILE_PART]}},
]
_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"enum": [r for r in ROLES if r != "assistant"]},
        "content": {"anyOf": _CONTENT},
        "tool_call_id": {"type": "string"},
        "name": {"type": "string"},
    },
}
_ASSISTANT = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"const": "assistant"},
        "content": {"anyOf": [*_CONTENT, {"type": "null"}], "description": "or tool_calls"},
        "tool_calls": {"type": "array", "items": _CALL},
    },
}
MESSAGES = {"type": "array", "minItems": 1, "items": {"anyOf": [_MESSAGE, _ASSISTANT]}}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class SeedchatOptions(BaseModel):
    """seedchat's own request options, under the ``seedchat`` key."""

    model_config = ConfigDict(extra="forbid")

    enforce: budgets.Enforcement | None = None
    preset: str | None = Field(default=None, min_length=1)


def bounded(key: str, **more: Any) -> Any:
    """A request field with the range of the setting ``key`` (:data:`seedchat.settings.FIELDS`),
    so the document and the check say the same."""
    setting = FIELDS[key]
    return Field(default=None, ge=setting.lo, le=setting.hi, **more)


def only(*values: Any, why: str, null: bool = True) -> WithJsonSchema:
    """A field documented by the values seedchat accepts (others get a 400 naming it)."""
    choices: list[dict[str, Any]] = [{"const": v} for v in values]
    return WithJsonSchema(
        {"anyOf": choices + ([{"type": "null"}] if null else []), "description": why}
    )


IGNORED = "accepted for compatibility; seedchat does not use it"
#: OpenAI's range of the penalties (accepted, not used: llama.cpp's are not these).
PENALTY = Field(default=None, ge=-2.0, le=2.0, description=IGNORED)
#: A budget's range: -1 unlimited, 0 answer directly, else tokens.
BUDGET = Field(default=None, ge=budgets.UNLIMITED, le=budgets.MAX_BUDGET)


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = bounded("max_tokens")
    max_completion_tokens: int | None = bounded("max_tokens")
    temperature: float | None = bounded("temperature")
    top_p: float | None = bounded("top_p")
    top_k: int | None = bounded("top_k")
    seed: int | None = bounded("seed")
    stop: str | list[str] | None = None
    n: Annotated[int | None, only(1, why="one choice per request")] = Field(None, ge=1, le=128)
    logprobs: Annotated[
        bool | Annotated[int, Field(ge=0, le=20)] | None,
        only(False, 0, why="log probabilities are not supported"),
    ] = None
    top_logprobs: Annotated[int | None, only(0, why="log probabilities are not supported")] = Field(
        None, ge=0, le=20
    )
    presence_penalty: float | None = PENALTY
    frequency_penalty: float | None = PENALTY
    echo: Annotated[bool | None, only(False, why="echo is not supported")] = None
    seedchat: SeedchatOptions | None = None


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    description: str | None = None
    parameters: Annotated[dict[str, Any], WithJsonSchema(PARAMETERS)] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    @field_validator("parameters")
    @classmethod
    def _renderable(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        """What the model's template reads: ``properties``, an object of schemas, and
        ``required``, a list of names (a 500 from the template before)."""
        properties = parameters.setdefault("properties", {})
        if not isinstance(properties, dict) or not all(
            isinstance(spec, dict) for spec in properties.values()
        ):
            raise ValueError("properties must be an object of JSON schemas")
        required = parameters.setdefault("required", [])
        if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
            raise ValueError("required must be a list of parameter names")
        return parameters


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["function"]
    function: FunctionSpec


class ChatRequest(_Request):
    """``POST /v1/chat/completions``."""

    messages: Annotated[list[dict[str, Any]], WithJsonSchema(MESSAGES)] = Field(min_length=1)
    tools: list[ToolSpec] | None = None
    tool_choice: Annotated[
        Literal["auto", "none"] | dict[str, Any] | None,
        only("auto", "none", why="a named tool cannot be forced"),
    ] = None
    response_format: Annotated[dict[str, Any] | None, WithJsonSchema(TEXT_FORMAT)] = None
    chat_template_kwargs: dict[str, Any] | None = None
    thinking_budget: int | None = BUDGET
    reasoning_effort: Annotated[str | None, only(*EFFORT_BUDGETS, why="a thinking budget")] = None


class CompletionRequest(_Request):
    """``POST /v1/completions`` (plain completion, for the Base models)."""

    prompt: str | list[str]
    best_of: Annotated[int | None, only(1, why="one choice per request")] = Field(None, ge=1, le=20)


def _refuse_unsupported(request: _Request) -> None:
    for param in ("n", "best_of"):
        if getattr(request, param, None) not in (None, 1):
            raise RequestError(
                f"Only one choice per request is supported ({param} = 1).", param=param
            )
    for param in ("logprobs", "top_logprobs"):
        if getattr(request, param):
            raise RequestError("Log probabilities are not supported.", param=param)
    if getattr(request, "echo", None):
        raise RequestError("echo is not supported.", param="echo")
    fmt = getattr(request, "response_format", None)
    if fmt is not None and fmt.get("type", "text") != "text":
        raise RequestError(
            f"response_format {fmt.get('type')!r} is not supported: seedchat answers in text.",
            param="response_format",
            hint="Ask for JSON in the prompt instead, or leave response_format out.",
        )
    if isinstance(getattr(request, "tool_choice", None), dict):
        raise RequestError(
            "Forcing a named tool is not supported; tool_choice may be 'auto' or 'none'.",
            param="tool_choice",
        )


def stop_sequences(request: _Request) -> list[str]:
    return checked_stop(request.stop, "stop")


def checked_stop(
    stop: str | list[str] | None, param: str, most: int = MAX_STOP_SEQUENCES
) -> list[str]:
    """The stop sequences as a list (RequestError naming ``param`` past ``most`` or empty)."""
    sequences = [stop] if isinstance(stop, str) else list(stop or [])
    if len(sequences) > most or any(not s for s in sequences):
        raise RequestError(f"{param} takes up to {most} non-empty strings.", param=param)
    return sequences


def _budget(request: ChatRequest) -> int | None:
    kwargs = request.chat_template_kwargs or {}
    if "thinking_budget" in kwargs:
        return _whole(kwargs["thinking_budget"], "chat_template_kwargs.thinking_budget")
    if request.thinking_budget is not None:
        return request.thinking_budget
    if request.reasoning_effort is None:
        return None
    return effort_budget(request.reasoning_effort, "reasoning_effort", tuple(EFFORT_BUDGETS))


def effort_budget(effort: Any, param: str, levels: tuple[str, ...]) -> int:
    """The thinking budget of an effort level (:data:`EFFORT_BUDGETS`, the one map for
    OpenAI's ``reasoning_effort`` and Ollama's ``think``); ``levels`` are the ones
    ``param`` may take."""
    if not isinstance(effort, str) or effort not in levels:
        raise RequestError(
            f"{param} must be one of {', '.join(levels)}, not {effort!r}.", param=param
        )
    return EFFORT_BUDGETS[effort]


def _whole(value: Any, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{param} must be a whole number of tokens.", param=param)
    return value


def chat_settings(request: _Request, base: ChatSettings) -> ChatSettings:
    """The request's settings over ``base`` (the server's defaults); RequestError if one is
    not allowed."""
    _refuse_unsupported(request)
    changes: dict[str, Any] = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "top_k": request.top_k,
        "seed": request.seed,
        "max_tokens": request.max_completion_tokens or request.max_tokens,
    }
    if isinstance(request, ChatRequest):
        changes["budget"] = _budget(request)
        base = base.replace(enforcement="hard")  # the API's default: the budget is kept
    base = _with_preset(request, base)
    if request.seedchat is not None and request.seedchat.enforce is not None:
        changes["enforcement"] = request.seedchat.enforce
    settings = settings_over(base, changes)
    if isinstance(request, ChatRequest):
        preset_system_first(request.messages, settings)
    return settings


def settings_over(
    base: ChatSettings, changes: dict[str, Any], params: dict[str, str] | None = None
) -> ChatSettings:
    """``base`` with ``changes`` (a ChatSettings field → a value, None: keep), each checked;
    a RequestError names the request's field (``params``: field → its name in the request)."""
    params = {"budget": "thinking_budget", **(params or {})}
    for name, value in changes.items():
        try:
            base = base.replace(**{name: value})
        except SettingsError as err:
            raise RequestError(err.message, param=params.get(name, name)) from err
    if base.budget > budgets.MAX_BUDGET:
        param = params["budget"]
        raise RequestError(f"{param} is too large.", param=param)
    return base


def _with_preset(request: _Request, base: ChatSettings) -> ChatSettings:
    """``base`` with the preset ``seedchat.preset`` names (the request's fields go over it)."""
    name = request.seedchat.preset if request.seedchat is not None else None
    return with_preset(name, base, "seedchat.preset")


def with_preset(name: str | None, base: ChatSettings, param: str) -> ChatSettings:
    """``base`` with the preset ``name`` (None: as it is); RequestError names ``param``."""
    if name is None:
        return base
    try:
        return load_presets().get(name).apply(base)
    except PresetError as err:
        raise RequestError(err.message, param=param, hint=err.hint) from err


def preset_system_first(messages: list[dict[str, Any]], settings: ChatSettings) -> None:
    """Put the preset's system prompt first in a request's ``messages`` if they have no
    system message (the request is this call's own: nothing else sees the change). Both
    APIs (OpenAI's and Ollama's) do it, so a preset makes the page's prompt there too."""
    if any(m.get("role") in ("system", "developer") for m in messages):
        return
    system = api_system_prompt(settings)
    if system:
        messages.insert(0, {"role": "system", "content": system})


def tools_of(request: ChatRequest) -> list[dict[str, Any]] | None:
    """The tools the template is given (none when ``tool_choice`` is "none")."""
    if not request.tools or request.tool_choice == "none":
        return None
    return [tool.model_dump(exclude_none=True) for tool in request.tools]
