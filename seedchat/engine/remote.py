"""A remote engine: a Seed model on an OpenAI-compatible server, behind the engine's calls.

vLLM (Seed-OSS on one or several GPUs), llama.cpp's ``llama-server``, llama-cpp-python's
server or another seedchat: :class:`RemoteEngine` speaks the same ``generate``/``render``
as the local :class:`~seedchat.engine.local.Engine` and yields the same typed events, so the
session, the UI, the store and ``seedchat chat`` do not know which one runs.

- **Thinking** comes as ``reasoning_content`` or ``reasoning`` deltas (servers that split
  it with their Seed-OSS reasoning parser) or as raw ``<seed:think>`` text in ``content``;
  either way it goes through seedchat's own :class:`~seedchat.seed.thinking.ThinkingParser`, so
  the model's reflect reports become :class:`~seedchat.events.Reflect` events and the
  counters work. A seedchat server's structured ``seedchat_reflect`` is taken as it is.
- **Counts**: the true thinking count is the server's
  ``usage.completion_tokens_details.reasoning_tokens`` when it gives one; while streaming
  it is counted from the chunks (a token each), marked approximate
  (``ThinkingStart.approximate``).
- **The budget** goes as ``chat_template_kwargs: {"thinking_budget": N}`` (vLLM, llama.cpp,
  seedchat read it). Where the server does not render it (llama-cpp-python's server), the
  prompt is rendered here with Seed's own template and sent to ``/v1/completions``. A hard
  budget that the server does not keep itself is kept here, by the same rule as the local
  engine's (:class:`~seedchat.engine.reply_budget.ReplyBudget`): when the thinking reaches it,
  the stream is closed and the reply continues from the thinking so far closed by the same
  exhausted line and ``</seed:think>`` the local engine injects (a raw completion of the
  rendered prompt). Where that is not possible, a notice says enforcement is soft there.
- **Tool calls**: a server that parses them (vLLM's ``--tool-call-parser seed_oss``) sends
  them structured, each with its id, which is kept; written as text, they go through the
  parser, which knows only text here (no token marks) and so gives them at the end of the
  reply (:mod:`seedchat.seed.tool_blocks`).
- **Text stays text**: a server tokenizes the prompt text it is sent itself, Seed's tags
  included. Where seedchat renders the prompt (``/completions`` and the continuation after
  a cut), every Seed tag inside a message's text is broken by a word joiner after its
  ``<`` (:meth:`~seedchat.seed.template.RenderedPrompt.defanged`), so no user message, tool result
  or file can forge a turn there; with ``/chat/completions`` the server renders and
  tokenizes the messages as it does.
- **Errors** (a server that is down, a wrong key, an unknown model, a timeout) are
  :class:`~seedchat.errors.EngineError` with what to do; cancel closes the HTTP stream.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from seedchat.engine.remote_servers import RemoteServer, ServerModel, list_server_models
from seedchat.engine.reply_budget import ReplyBudget
from seedchat.errors import EngineError
from seedchat.events import (
    Done,
    Event,
    FinishReason,
    Notice,
    Reflect,
    ThinkingEnd,
    ThinkingStart,
    ToolCall,
)
from seedchat.seed import tags
from seedchat.seed.template import ChatTemplate, Message, seed_template
from seedchat.seed.thinking import ThinkingParser
from seedchat.seed.tool_blocks import new_call_id
from seedchat.settings import GenerationOptions

log = logging.getLogger(__name__)

#: Every tag of Seed's format: never written as such inside a message's text.
_SEED_TAGS = (
    *tags.CONTROL_TOKENS,
    *tags.THINK_OPEN_TAGS,
    *tags.THINK_CLOSE_TAGS,
    tags.REFLECT_OPEN,
    tags.REFLECT_CLOSE,
    tags.TOOL_CALL_OPEN,
    tags.TOOL_CALL_CLOSE,
)

TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=30.0, pool=10.0)


@dataclass
class _Stream:
    """What one streamed reply brought: text pieces are fed to the parser by the caller."""

    usage: dict[str, Any] = field(default_factory=dict)
    finish: str | None = None
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)


class _Turn:
    """One reply's events: server deltas → parser → seedchat's events, with the counts."""

    def __init__(self, parser: ThinkingParser, exact: bool) -> None:
        self.parser = parser
        self.exact = exact  # the server sends true counts (a seedchat server)
        self.raw: list[str] = []  # the text the model wrote, tags and all (to continue it)
        self.chunks = 0
        self.opened_by_reasoning = False
        self.server_end: ThinkingEnd | None = None

    def text(self, piece: str, tokens: int = 1) -> list[Event]:
        if self.opened_by_reasoning:  # a reasoning stream ended: the answer begins
            self.opened_by_reasoning = False
            self.raw.append(tags.THINK_CLOSE)
            return self._fix(self.parser.feed(tags.THINK_CLOSE, tokens=0)) + self.text(
                piece, tokens
            )
        self.raw.append(piece)
        self.chunks += tokens
        return self._fix(self.parser.feed(piece, tokens=tokens))

    def reasoning(self, piece: str) -> list[Event]:
        events: list[Event] = []
        if not self.parser.in_thinking and not self.parser.thinking_done:
            self.opened_by_reasoning = True
            self.raw.append(tags.THINK_OPEN)
            events += self._fix(self.parser.feed(tags.THINK_OPEN, tokens=0))
        self.raw.append(piece)
        self.chunks += 1
        return events + self._fix(self.parser.feed(piece))

    def reflect(self, data: dict[str, Any]) -> list[Event]:
        known = {"used", "remaining", "exhausted", "true_count", "injected"}
        return [Reflect(raw="", **{k: v for k, v in data.items() if k in known})]

    def _fix(self, events: list[Event]) -> list[Event]:
        out = []
        for event in events:
            if isinstance(event, ThinkingStart):
                event = ThinkingStart(by_template=event.by_template, approximate=not self.exact)
            elif isinstance(event, ThinkingEnd) and self.server_end is not None:
                event = self.server_end
            out.append(event)
        return out

    def finish(self) -> list[Event]:
        return self._fix(self.parser.finish())


class RemoteEngine:
    """A model on an OpenAI-compatible server (see the module docstring)."""

    def __init__(
        self, server: RemoteServer, model: ServerModel, timeout: httpx.Timeout = TIMEOUT
    ) -> None:
        self.server, self.model = server, model
        self.template: ChatTemplate = seed_template()
        headers = {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}
        transport = httpx.HTTPTransport(retries=2)  # the connection only, never a generation
        self._http = httpx.Client(
            base_url=server.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._lock = threading.Lock()
        self._can_complete: bool | None = None

    @classmethod
    def connect(cls, server: RemoteServer, model: str | None = None) -> RemoteEngine:
        """The server's ``model`` (its first one when None); EngineError when it cannot be
        reached, refuses the key, or has no such model."""
        models = list_server_models(server)
        if not models:
            raise EngineError(
                f"The server {server.label} has no model loaded.",
                hint="Load one on the server, then connect again.",
            )
        if model is None:
            return cls(server, models[0])
        for found in models:
            if model in (found.id, found.id.rsplit("/", 1)[-1]):
                return cls(server, found)
        names = ", ".join(m.id for m in models)
        raise EngineError(
            f"The server {server.label} has no model {model!r}.", hint=f"It has: {names}."
        )

    @property
    def model_name(self) -> str:
        return f"{self.model.id} ({self.server.label})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the engine's calls ----------------------------------------------------------------

    def render(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        """The prompt Seed's own template makes of ``messages``, the tags inside their text
        broken (module docstring): what seedchat sends to ``/completions``."""
        rendered = self.template.render_marked(messages, options.budget, options.tools)
        return rendered.defanged(_SEED_TAGS)

    def generate(
        self,
        messages: Sequence[Message] | str,
        options: GenerationOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Stream the typed events of one reply (ends with :class:`Done`)."""
        with self._lock:
            yield from self._generate(messages, options, cancel or threading.Event())

    def _generate(
        self, messages: Sequence[Message] | str, options: GenerationOptions, cancel: threading.Event
    ) -> Iterator[Event]:
        raw = isinstance(messages, str) or options.raw
        budget = ReplyBudget(options, raw=raw)
        yield from budget.notices
        features = self.model.features
        local = raw or not features.renders_budget  # the prompt rendered here
        prompt = messages if isinstance(messages, str) else self.render(messages, options)
        turn = _Turn(budget.parser(prompt), exact=features.exact_counts)
        if budget.cuts and features.enforces_budget:
            budget.not_cut_here()  # the server cuts
        elif budget.cuts and not self.can_complete():
            budget.not_cut_here()
            yield Notice(
                f"{self.server.label} cannot be made to stop thinking at the budget: "
                "enforcement is soft on this server.",
                kind="budget",
            )
        request = self._request(messages, options, prompt if local else None)
        stream, first_at = _Stream(), None
        for event, at in self._events(request, turn, stream, cancel, budget):
            first_at = first_at or at
            yield event
        if budget.must_cut(turn.parser) and not cancel.is_set():  # the answer from the cut
            yield from self._continue(prompt, turn, budget, options, stream, cancel)
        yield from turn.finish()
        yield from self._tool_calls(stream)
        finish: FinishReason = "length" if stream.finish == "length" else "stop"
        yield self._done(stream, turn, budget, "cancelled" if cancel.is_set() else finish, first_at)

    # -- requests --------------------------------------------------------------------------

    def _request(
        self, messages: Sequence[Message] | str, options: GenerationOptions, prompt: str | None
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model.id,
            "stream": True,
            "max_tokens": options.max_tokens,
            "stream_options": {"include_usage": True},
        }
        for key in ("temperature", "top_p", "seed"):
            if getattr(options, key) is not None:
                body[key] = getattr(options, key)
        if options.top_k:
            body["top_k"] = options.top_k
        if prompt is not None:
            return "/completions", {**body, "prompt": prompt}
        body["messages"] = [_openai_message(m) for m in messages]
        body["chat_template_kwargs"] = {"thinking_budget": options.budget}
        if self.model.features.enforces_budget and options.enforcement:
            body["seedchat"] = {"enforce": options.enforcement}
        if options.tools:
            body["tools"] = options.tools
        return "/chat/completions", body

    def can_complete(self) -> bool:
        """Whether the server offers raw completions (to continue a cut reply), asked once."""
        if self._can_complete is None:
            try:
                reply = self._http.post(
                    "/completions", json={"model": self.model.id, "prompt": "a", "max_tokens": 1}
                )
                self._can_complete = reply.status_code < 400
            except httpx.HTTPError:
                self._can_complete = False
        return self._can_complete

    def _continue(
        self,
        prompt: str,
        turn: _Turn,
        budget: ReplyBudget,
        options: GenerationOptions,
        stream: _Stream,
        cancel: threading.Event,
    ) -> Iterator[Event]:
        """The hard budget: end the thinking as the local engine does, then let the model
        answer from there (a raw completion of everything so far)."""
        forced = budget.cut(turn.parser)
        turn.opened_by_reasoning = False  # the forced text closes the thinking
        written = "".join(turn.raw)
        yield from turn._fix(turn.parser.feed(forced, tokens=0, injected=True))
        left = max(1, options.max_tokens - turn.chunks)  # the reply's tokens so far count
        body = {
            "model": self.model.id,
            "stream": True,
            "prompt": prompt + written + forced,
            "max_tokens": left,
            "stream_options": {"include_usage": True},
        }
        for key in ("temperature", "top_p", "seed"):
            if getattr(options, key) is not None:
                body[key] = getattr(options, key)
        more = _Stream()
        for event, _at in self._events(("/completions", body), turn, more, cancel, budget):
            yield event
        stream.finish = more.finish
        for key, value in more.usage.items():
            if isinstance(value, int):
                stream.usage[key] = stream.usage.get(key, 0) + value

    # -- reading a stream ------------------------------------------------------------------

    def _events(
        self,
        request: tuple[str, dict[str, Any]],
        turn: _Turn,
        stream: _Stream,
        cancel: threading.Event,
        budget: ReplyBudget,
    ) -> Iterator[tuple[Event, float]]:
        """The stream's events, each with when it came; the stream is closed at once on
        cancel and when the thinking must be cut (which stops the server's generation)."""
        path, body = request
        try:
            with self._http.stream("POST", path, json=body) as response:
                _raise_for(response, self.server)
                for line in response.iter_lines():
                    if cancel.is_set():
                        return
                    for event in self._line(line, turn, stream):
                        yield event, time.monotonic()
                    if budget.must_cut(turn.parser):
                        return  # closing the stream stops the server's generation
        except httpx.TimeoutException as exc:
            raise EngineError(
                f"{self.server.label} did not answer in time ({exc}).",
                hint="The server may be overloaded; try again.",
            ) from exc
        except httpx.TransportError as exc:
            raise EngineError(
                f"The connection to {self.server.label} broke: {exc}.",
                hint="Check that the server is still running.",
            ) from exc

    def _line(self, line: str, turn: _Turn, stream: _Stream) -> list[Event]:
        if not line.startswith("data:"):
            return []
        data = line[5:].strip()
        if not data or data == "[DONE]":
            return []
        chunk = json.loads(data)
        if "error" in chunk:
            error = chunk["error"]
            raise EngineError(f"{self.server.label}: {error.get('message', error)}")
        if chunk.get("usage"):
            stream.usage = chunk["usage"]
        events: list[Event] = []
        for choice in chunk.get("choices") or []:
            stream.finish = choice.get("finish_reason") or stream.finish
            delta = choice.get("delta") or {"content": choice.get("text")}
            events += self._delta(delta, turn, stream)
        return events

    def _delta(self, delta: dict[str, Any], turn: _Turn, stream: _Stream) -> list[Event]:
        events: list[Event] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            events += turn.reasoning(reasoning)
        if delta.get("seedchat_reflect"):
            events += turn.reflect(delta["seedchat_reflect"])
        if delta.get("seedchat_thinking"):
            end = delta["seedchat_thinking"]
            turn.server_end = ThinkingEnd(
                **{k: end[k] for k in ("tokens", "seconds", "forced", "unclosed")}
            )
        if delta.get("content"):
            events += turn.text(delta["content"])
        for call in delta.get("tool_calls") or []:
            slot = stream.tool_calls.setdefault(
                call.get("index", 0), {"name": "", "arguments": "", "id": ""}
            )
            slot["id"] = slot["id"] or call.get("id") or ""
            function = call.get("function") or {}
            slot["name"] += function.get("name") or ""
            slot["arguments"] += function.get("arguments") or ""
        return events

    def _tool_calls(self, stream: _Stream) -> list[Event]:
        """The calls the server parsed itself, each with the server's id (a new one when it
        gave none or one that is not a string of a sane size)."""
        calls = []
        for _, call in sorted(stream.tool_calls.items()):
            try:
                arguments = json.loads(call["arguments"] or "{}")
            except json.JSONDecodeError:
                arguments = {"arguments": call["arguments"]}
            as_text = {k: v if isinstance(v, str) else json.dumps(v) for k, v in arguments.items()}
            given = call["id"]
            call_id = given if isinstance(given, str) and 0 < len(given) <= 64 else new_call_id()
            calls.append(ToolCall(call["name"], as_text, raw=call["arguments"], id=call_id))
        return calls

    def _done(
        self,
        stream: _Stream,
        turn: _Turn,
        budget: ReplyBudget,
        finish: FinishReason,
        first_at: float | None,
    ) -> Done:
        """The server's counts where it gives them, else those counted from the chunks."""
        usage = stream.usage or {}
        details = usage.get("completion_tokens_details") or {}
        prompt_tokens = usage.get("prompt_tokens") or 0
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return budget.done(
            finish,
            prompt_tokens=prompt_tokens,
            evaluated_prompt_tokens=prompt_tokens - cached,
            generated_tokens=usage.get("completion_tokens") or turn.chunks,
            thinking_tokens=details.get("reasoning_tokens") or turn.parser.thinking_tokens,
            first_token_at=first_at,
        )


def _openai_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))},
            }
            for i, c in enumerate(message.tool_calls)
        ]
    return out


def _raise_for(response: httpx.Response, server: RemoteServer) -> None:
    if response.status_code < 400:
        return
    response.read()
    try:
        detail = response.json().get("error", {}).get("message") or response.text
    except (ValueError, AttributeError):
        detail = response.text
    if response.status_code in (401, 403):
        raise EngineError(
            f"{server.label} refused the API key ({response.status_code}).",
            hint="Check the key given for this server.",
        )
    raise EngineError(f"{server.label} answered {response.status_code}: {str(detail)[:300]}")
