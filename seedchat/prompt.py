"""Render a model's own chat template (the one embedded in its GGUF).

Templates run in jinja2's immutable sandbox with the helpers llama.cpp and
transformers give templates (``raise_exception``, ``strftime_now``, ``tojson``), and
the variables Seed's templates read: ``messages``, ``add_generation_prompt``,
``thinking_budget``, ``tools``, ``bos_token``/``eos_token``. Earlier assistant turns
pass their thinking as ``reasoning_content``, which Seed's template puts back inside
``<seed:think>`` tags, and their tool calls as ``tool_calls``, which it writes back as
``<seed:tool_call>`` blocks.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from seedchat.errors import EngineError
from seedchat.seed_format import BOS, EOS


@dataclass
class Message:
    role: str  # "system" | "user" | "assistant" | "tool"
    content: str
    thinking: str | None = None  # an assistant turn's thinking, if kept
    # An assistant turn's tool calls: [{"name": str, "arguments": {name: value}}].
    tool_calls: list[dict[str, Any]] | None = None

    def to_template(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.thinking:
            out["reasoning_content"] = self.thinking
        if self.tool_calls:
            out["tool_calls"] = [_template_tool_call(call) for call in self.tool_calls]
        return out


def _template_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """A call as Seed's template reads it. A value that is not a string is written as JSON
    (``true``, ``3``, ``{"a": 1}``), the way the model writes it, not as Python's ``True``."""
    arguments = {
        name: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for name, value in call.get("arguments", {}).items()
    }
    return {"type": "function", "function": {"name": call["name"], "arguments": arguments}}


@dataclass
class ChatTemplate:
    source: str
    bos_token: str = BOS
    eos_token: str = EOS
    _compiled: Any = field(default=None, repr=False)

    def render(
        self,
        messages: Sequence[Message],
        thinking_budget: int = -1,
        tools: list[dict] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        if self._compiled is None:
            self._compiled = _environment().from_string(self.source)
        try:
            return self._compiled.render(
                messages=[m.to_template() for m in messages],
                add_generation_prompt=add_generation_prompt,
                thinking_budget=thinking_budget,
                tools=tools or None,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except jinja2.TemplateError as exc:
            raise EngineError(
                f"The model's chat template failed: {exc}",
                hint="Use raw completion (--raw), or convert the model with a valid template.",
            ) from exc


def _raise(message: str) -> None:
    raise jinja2.TemplateError(message)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    env.filters["tojson"] = lambda v, indent=None, ensure_ascii=False: json.dumps(
        v, indent=indent, ensure_ascii=ensure_ascii
    )
    return env


def template_from_metadata(metadata: dict[str, Any]) -> ChatTemplate | None:
    source = metadata.get("tokenizer.chat_template")
    return ChatTemplate(source) if isinstance(source, str) and source.strip() else None
