"""Ollama's request and response shapes, over seedchat's own types.

What an Ollama client may ask (``/api/chat``, ``/api/generate``, ``/api/show``) is
checked by the pydantic models below (unknown fields and unknown ``options`` are accepted
and ignored, as Ollama does) and turned into the one
:class:`~seedchat.settings.ChatSettings` by :func:`ollama_settings`:

- ``think``: ``false`` answers directly (budget 0); ``"low"``/``"medium"``/``"high"`` are
  the budgets of OpenAI's ``reasoning_effort`` (:data:`seedchat.api.requests.EFFORT_BUDGETS`,
  the one map); ``true`` keeps the server's budget, or thinks without a limit when that
  is 0; absent, the server's budget. ``options.thinking_budget`` (a number of tokens, -1
  unlimited) wins over ``think``. The budget is enforced (hard), as on ``/v1``.
- ``options``: ``temperature``, ``top_p``, ``top_k``, ``seed`` (negative: a random one),
  ``num_predict`` (the longest reply; -1 and -2: the server's), ``stop``; ``num_ctx`` may
  not exceed the context the model was loaded with.

:class:`OllamaReply` follows one generation and gives Ollama's objects: thinking in
``message.thinking`` (``thinking`` for ``/api/generate``) beside ``content``/``response``,
never a tag; tool calls with their arguments as objects (typed by the tool's JSON schema),
a call to a tool the request did not offer left as the model's text;
the last object ``done: true`` with ``done_reason`` and the counts and durations (in
nanoseconds). seedchat's budget reports ride along as on ``/v1``: ``seedchat_reflect``,
``seedchat_thinking`` and ``seedchat_notice`` in the message (in the object for
``/api/generate``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema

from seedchat.api.requests import (
    BUDGET,
    IGNORED,
    PENALTY,
    ToolSpec,
    bounded,
    checked_stop,
    effort_budget,
    only,
    settings_over,
    with_preset,
)
from seedchat.api.responses import StopScanner, joined_parts
from seedchat.errors import RequestError
from seedchat.events import (
    AnswerDelta,
    Done,
    Event,
    Notice,
    Reflect,
    ThinkingDelta,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.models import ModelInfo
from seedchat.seed import budget as budgets
from seedchat.seed.template import Message
from seedchat.seed.tool_calls import ROLES, offered, prompt_messages, typed_arguments
from seedchat.settings import FIELDS, ChatSettings

#: The Ollama API version these routes follow (clients such as VS Code's check a minimum).
OLLAMA_VERSION = "0.12.6"
#: ``think``'s levels (their budgets are reasoning_effort's).
THINK_LEVELS = ("low", "medium", "high")
#: More stop sequences than on /v1: Ollama clients send a model's whole list.
MAX_OLLAMA_STOPS = 16
#: ``expires_at`` of the loaded model: it stays while seedchat runs.
NEVER = "2318-01-01T00:00:00Z"

Obj = dict[str, Any]
THINK = {"anyOf": [{"type": "boolean"}, {"enum": list(THINK_LEVELS)}, {"type": "null"}]}
UNSUPPORTED = "not supported by seedchat"
#: The largest context a request may name (``num_ctx``; the loaded one is checked too).
MAX_NUM_CTX = 2**24

_CALL = {
    "type": "object",
    "required": ["function"],
    "properties": {
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "arguments": {"type": "object"},
            },
        }
    },
}
#: An Ollama chat message, as documented (``images`` are refused: the models read text).
MESSAGES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"enum": list(ROLES)},
            "content": {"type": "string"},
            "thinking": {"type": "string"},
            "tool_calls": {"type": "array", "items": _CALL},
            "tool_name": {"type": "string"},
            "images": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
        },
    },
}


# -- requests -------------------------------------------------------------------------


class OllamaOptions(BaseModel):
    """``options``: the ones seedchat honours, typed and range-checked; Ollama's others
    are accepted (range-checked where they are numbers) and have no effect."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = bounded("temperature")
    top_p: float | None = bounded("top_p")
    top_k: int | None = bounded("top_k")
    num_predict: int | None = Field(
        default=None, ge=-2, le=FIELDS["max_tokens"].hi, description="-1, -2: the server's"
    )
    seed: int | None = Field(
        default=None, ge=-(2**31), le=FIELDS["seed"].hi, description="negative: a random one"
    )
    stop: list[str] | str | None = None
    num_ctx: int | None = Field(default=None, ge=1, le=MAX_NUM_CTX)
    thinking_budget: int | None = BUDGET
    preset: str | None = Field(default=None, min_length=1)  # a seedchat preset's name
    # Ollama's other numbers: accepted, no effect (llama.cpp's sampling here is seedchat's).
    min_p: float | None = Field(default=None, ge=0.0, le=1.0, description=IGNORED)
    typical_p: float | None = Field(default=None, ge=0.0, le=1.0, description=IGNORED)
    repeat_penalty: float | None = Field(default=None, ge=0.0, le=100.0, description=IGNORED)
    presence_penalty: float | None = PENALTY
    frequency_penalty: float | None = PENALTY
    repeat_last_n: int | None = Field(default=None, ge=-1, le=MAX_NUM_CTX, description=IGNORED)
    num_keep: int | None = Field(default=None, ge=-1, le=MAX_NUM_CTX, description=IGNORED)
    num_batch: int | None = Field(default=None, ge=1, le=MAX_NUM_CTX, description=IGNORED)
    num_gpu: int | None = Field(default=None, ge=-1, le=100_000, description=IGNORED)
    num_thread: int | None = Field(default=None, ge=0, le=4096, description=IGNORED)
    mirostat: int | None = Field(default=None, ge=0, le=2, description=IGNORED)
    mirostat_tau: float | None = Field(default=None, ge=0.0, le=100.0, description=IGNORED)
    mirostat_eta: float | None = Field(default=None, ge=0.0, le=100.0, description=IGNORED)


class _OllamaRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    stream: StrictBool = True
    options: OllamaOptions | None = None
    think: Annotated[StrictBool | str | None, WithJsonSchema(THINK)] = None
    keep_alive: float | str | None = None  # accepted: the model stays loaded while we run
    format: Annotated[str | dict[str, Any] | None, only("", why="seedchat answers in text")] = None


class OllamaChatRequest(_OllamaRequest):
    """``POST /api/chat``; no messages only answers that the model is loaded."""

    messages: Annotated[list[dict[str, Any]], WithJsonSchema(MESSAGES)] = Field(
        default_factory=list
    )
    tools: list[ToolSpec] | None = None


class OllamaGenerateRequest(_OllamaRequest):
    """``POST /api/generate``: a prompt, with the model's template (``raw``: without)."""

    prompt: str = ""
    system: str | None = None
    raw: StrictBool = False
    suffix: Annotated[str | None, only("", why=UNSUPPORTED)] = None
    template: Annotated[str | None, only("", why=UNSUPPORTED)] = None
    context: Annotated[list[int] | None, only([], why=UNSUPPORTED)] = None
    images: Annotated[list[Any] | None, only([], why="seedchat's models read text")] = None


class ShowRequest(BaseModel):
    """``POST /api/show`` (older clients send ``name``)."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    name: str | None = None


def _refuse_unsupported(request: _OllamaRequest) -> None:
    if request.format not in (None, ""):
        raise RequestError(
            "format (JSON output) is not supported: seedchat answers in text.",
            param="format",
            hint="Ask for JSON in the prompt instead, or leave format out.",
        )
    if isinstance(request, OllamaGenerateRequest):
        for name in ("suffix", "template", "context", "images"):
            if getattr(request, name):
                raise RequestError(f"{name} is not supported by seedchat.", param=name)


def think_budget(think: bool | str | None, base: ChatSettings) -> int | None:
    """The budget ``think`` asks for (None: the server's)."""
    if think is None:
        return None
    if think is True:
        return base.budget if base.budget != 0 else budgets.UNLIMITED
    if think is False:
        return 0
    return effort_budget(think, "think", THINK_LEVELS)


def ollama_settings(
    request: _OllamaRequest, base: ChatSettings, context_length: int | None
) -> ChatSettings:
    """The request's settings over ``base`` (the server's); RequestError if one is not
    allowed. ``context_length``: the loaded context (None: not known)."""
    _refuse_unsupported(request)
    options = request.options or OllamaOptions()
    base = with_preset(options.preset, base, "options.preset")  # the request's go over it
    if options.num_ctx is not None and context_length and options.num_ctx > context_length:
        raise RequestError(
            f"options.num_ctx {options.num_ctx} is larger than the context the model was "
            f"loaded with ({context_length} tokens).",
            param="options.num_ctx",
            hint="Ask for at most that, or restart seedchat with a larger --context.",
        )
    budget = think_budget(request.think, base)
    if options.thinking_budget is not None:
        budget = options.thinking_budget
    predict = options.num_predict
    if predict is not None and predict < -2:
        raise RequestError(
            "options.num_predict must be a number of tokens, or -1 for the server's limit.",
            param="options.num_predict",
        )
    changes = {
        "temperature": options.temperature,
        "top_p": options.top_p,
        "top_k": options.top_k,
        "seed": options.seed if options.seed is None or options.seed >= 0 else None,
        "max_tokens": predict if predict is None or predict > 0 else None,
        "budget": budget,
        "enforcement": "hard",  # as on /v1: the budget is kept
    }
    if predict == 0:
        changes["max_tokens"] = 0  # refused by the settings' own check, with its words
    params = {name: f"options.{name}" for name in changes}
    params.update(budget="options.thinking_budget", max_tokens="options.num_predict")
    if options.thinking_budget is None and request.think is not None:
        params["budget"] = "think"
    return settings_over(base, changes, params)


def ollama_stops(request: _OllamaRequest) -> list[str]:
    stop = (request.options or OllamaOptions()).stop
    return checked_stop(stop, "options.stop", MAX_OLLAMA_STOPS)


def ollama_tools(request: OllamaChatRequest) -> list[dict[str, Any]] | None:
    """The tools the template is given (OpenAI's shape, which Ollama shares)."""
    return [tool.model_dump(exclude_none=True) for tool in request.tools or []] or None


def chat_messages(messages: list[dict[str, Any]]) -> list[Message]:
    """Ollama's messages (tool calls' arguments as objects, results as ``tool`` turns with
    ``tool_name``; earlier ``thinking`` left out) as the template's messages."""
    for i, message in enumerate(messages):
        if isinstance(message, dict) and message.get("images"):
            raise RequestError(
                f"messages[{i}].images: seedchat's models read text only.",
                param=f"messages[{i}].images",
            )
    return prompt_messages(messages)


def generate_messages(request: OllamaGenerateRequest) -> list[Message]:
    system = [Message("system", request.system)] if request.system else []
    return [*system, Message("user", request.prompt)]


# -- models -------------------------------------------------------------------------------


def ollama_name(model_id: str) -> str:
    """The name Ollama's clients see (``name:tag``)."""
    return model_id if ":" in model_id else f"{model_id}:latest"


def plain_name(name: str) -> str:
    """A name a client sent, without Ollama's default tag."""
    return name.removesuffix(":latest")


def _size_label(parameters: int | None) -> str:
    if not parameters:
        return ""
    if parameters >= 10**9:
        return f"{parameters / 10**9:.1f}B"
    return f"{parameters / 10**6:.1f}M"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso() -> str:
    return _iso(time.time())


def details(info: ModelInfo | None) -> Obj:
    family = (info.architecture if info else None) or ""
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family] if family else None,
        "parameter_size": _size_label(info.parameters if info else None),
        "quantization_level": (info.quantization if info else None) or "",
    }


def _digest(info: ModelInfo | None, model_id: str) -> str:
    """A stable identifier of the file (not its hash: hashing gigabytes takes minutes)."""
    key = model_id
    if info is not None:
        stat = info.path.stat() if info.path.exists() else None
        key = f"{info.path}|{info.size_bytes}|{stat.st_mtime_ns if stat else 0}"
    return hashlib.sha256(key.encode()).hexdigest()


def _modified(info: ModelInfo | None) -> str:
    if info is not None and info.path.exists():
        return _iso(info.path.stat().st_mtime)
    return now_iso()


def model_entry(model_id: str, info: ModelInfo | None) -> Obj:
    """The model as ``/api/tags`` lists it."""
    name = ollama_name(model_id)
    return {
        "name": name,
        "model": name,
        "modified_at": _modified(info),
        "size": info.size_bytes if info else 0,
        "digest": _digest(info, model_id),
        "details": details(info),
    }


def running_entry(
    model_id: str, info: ModelInfo | None, context: int | None, memory: tuple[int, int]
) -> Obj:
    """The model as ``/api/ps`` lists it; ``memory``: (bytes in all, of those on the GPU)."""
    entry = model_entry(model_id, info)
    entry.pop("modified_at")
    total, gpu = memory
    return {
        **entry,
        "size": total or entry["size"],
        "size_vram": gpu,
        "expires_at": NEVER,
        "context_length": context or 0,
    }


def capabilities(template: str | None) -> list[str]:
    """What the model can do, read from its chat template (None: not known, a remote
    model: a Seed model's all)."""
    found = ["completion"]
    if template is None or "tools" in template:
        found.append("tools")
    if template is None or "think" in template:
        found.append("thinking")
    return found


def show(model_id: str, info: ModelInfo | None, context: int | None, settings: ChatSettings) -> Obj:
    """``/api/show``: the model's details, its context and what it can do."""
    template = info.metadata.get("tokenizer.chat_template") if info else None
    family = details(info)["family"] or "seed"
    model_info: Obj = {"general.architecture": family, "general.name": model_id}
    if info is not None and info.parameters:
        model_info["general.parameter_count"] = info.parameters
    if context:  # the loaded context: what a client may send
        model_info[f"{family}.context_length"] = context
    parameters = [
        f"temperature {settings.temperature}",
        f"top_p {settings.top_p}",
        *([f"num_ctx {context}"] if context else []),
    ]
    return {
        "license": "",
        "modelfile": f"# served by seedchat\nFROM {info.path if info else model_id}\n",
        "parameters": "\n".join(parameters),
        "template": template if isinstance(template, str) else "",
        "details": details(info),
        "model_info": model_info,
        "capabilities": capabilities(template if isinstance(template, str) else None),
        "modified_at": _modified(info),
    }


def loaded(model: str, chat: bool) -> Obj:
    """The answer to a request with nothing to say: the model is loaded."""
    body: Obj = {"model": model, "created_at": now_iso(), "done": True, "done_reason": "load"}
    if chat:
        body["message"] = {"role": "assistant", "content": ""}
    else:
        body["response"] = ""
    return body


# -- replies ------------------------------------------------------------------------------


def _ns(seconds: float | None) -> int:
    return max(0, int((seconds or 0.0) * 1e9))


def durations(done: Done | None, total_ns: int) -> Obj:
    """Ollama's counts and durations (nanoseconds) of a reply that took ``total_ns``."""
    done = done or Done("stop")
    if done.evaluated_prompt_tokens and done.prompt_tokens_per_second:
        prefill = done.evaluated_prompt_tokens / done.prompt_tokens_per_second
    else:
        prefill = done.time_to_first_token or 0.0
    prompt_ns = _ns(prefill)
    eval_ns = max(0, _ns(done.seconds) - prompt_ns)
    return {
        "total_duration": total_ns,
        "load_duration": max(0, total_ns - prompt_ns - eval_ns),  # waiting for the model
        "prompt_eval_count": done.prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": done.generated_tokens,
        "eval_duration": eval_ns,
    }


#: the parts whose text joins: the answer's, the thinking's
_TEXT_KEYS = ({"content"}, {"thinking"})


class OllamaReply:
    """One reply of ``/api/chat`` (``chat=True``) or ``/api/generate`` (``raw``: no
    thinking is parsed, all of it is the response)."""

    def __init__(
        self,
        model: str,
        tools: list[dict[str, Any]] | None = None,
        stop: list[str] | None = None,
        chat: bool = True,
        raw: bool = False,
    ) -> None:
        self.model, self.tools, self.chat, self.raw = model, tools, chat, raw
        self.started = time.perf_counter_ns()  # the request's arrival
        self.stop = StopScanner(stop or [])
        self.content: list[str] = []
        self.thinking: list[str] = []
        self.tool_calls: list[Obj] = []
        self.extras: dict[str, Any] = {"seedchat_reflects": []}
        self.done: Done | None = None
        self._in_thinking = False

    @property
    def stopped(self) -> bool:
        return self.stop.hit

    def opening(self) -> list[Obj]:
        return []

    def _object(self, fields: Obj, done: bool = False) -> Obj:
        body: Obj = {"model": self.model, "created_at": now_iso()}
        if self.chat:
            body["message"] = {"role": "assistant", "content": "", **fields}
        else:
            body["response"] = fields.pop("content", "")
            body.update(fields)
        body["done"] = done
        return body

    def feed(self, events: list[Event]) -> list[Obj]:
        """The objects ``events`` make; text that arrived together goes out together."""
        parts, done = joined_parts(events, self._part, _TEXT_KEYS)
        self.done = done or self.done
        return [self._object(part) for part in parts]

    def _part(self, event: Event) -> Obj | None:
        if self.stopped:
            return None
        if isinstance(event, AnswerDelta) or (isinstance(event, ThinkingDelta) and self.raw):
            return self._answer(event.text)
        if isinstance(event, ThinkingStart):
            self._in_thinking = True
        elif isinstance(event, ThinkingDelta):
            self.thinking.append(event.text)
            return {"thinking": event.text}
        elif isinstance(event, Reflect):
            report = {k: v for k, v in asdict(event).items() if k != "raw"}
            self.extras["seedchat_reflects"].append(report)
            return {"seedchat_reflect": report}
        elif isinstance(event, ThinkingEnd):
            self._in_thinking = False
            self.extras["seedchat_thinking"] = asdict(event)
            return {"seedchat_thinking": asdict(event)}
        elif isinstance(event, ToolCall):
            return self._tool_call(event)
        elif isinstance(event, Notice):
            self.extras.setdefault("seedchat_notices", []).append(asdict(event))
            return {"seedchat_notice": asdict(event)}
        return None

    def _answer(self, text: str) -> Obj | None:
        safe = self.stop.feed(text)
        if not safe:
            return None
        self.content.append(safe)
        return {"content": safe}

    def _tool_call(self, call: ToolCall) -> Obj | None:
        if self._in_thinking and not self.raw:  # a call drafted while thinking is thinking
            self.thinking.append(call.raw)
            return {"thinking": call.raw}
        if not self.chat or not offered(call, self.tools):  # no such tool asked for: text
            return self._answer(call.raw)
        entry = {
            "id": call.id,
            "function": {
                "index": len(self.tool_calls),
                "name": call.name,
                "arguments": typed_arguments(call, self.tools),
            },
        }
        self.tool_calls.append(entry)
        return {"tool_calls": [entry]}

    def done_reason(self) -> str:
        if self.stopped or self.done is None:
            return "stop"
        return "length" if self.done.finish_reason == "length" else "stop"

    def _final(self, fields: Obj) -> Obj:
        body = self._object(fields, done=True)
        body["done_reason"] = self.done_reason()
        body.update(durations(self.done, time.perf_counter_ns() - self.started))
        return body

    def finish(self) -> list[Obj]:
        """The last objects: held-back text, then ``done: true`` with the statistics."""
        rest = self.stop.flush()
        self.content.append(rest)
        return [self._final({"content": rest})]

    def completion(self) -> Obj:
        """The whole reply (``stream: false``), once the generation ended."""
        self.content.append(self.stop.flush())
        fields: Obj = {"content": "".join(self.content)}
        if self.thinking:
            fields["thinking"] = "".join(self.thinking)
        if self.tool_calls:
            fields["tool_calls"] = self.tool_calls
        fields.update(self.extras)
        return self._final(fields)
