"""Render a model's own chat template (the one embedded in its GGUF).

Templates run in jinja2's immutable sandbox with the helpers llama.cpp and
transformers give templates (``raise_exception``, ``strftime_now``, ``tojson``), and
the variables Seed's templates read: ``messages``, ``add_generation_prompt``,
``thinking_budget``, ``tools``, ``bos_token``/``eos_token``. Earlier assistant turns
pass their thinking as ``reasoning_content``, which Seed's template puts back inside
``<seed:think>`` tags, and their tool calls as ``tool_calls``, which it writes back as
``<seed:tool_call>`` blocks (their arguments as a mapping: the template iterates
``arguments | items``). Tools are sorted by name (:func:`sorted_tools`), so the same tools
in any order give the same prompt and the tools block is a fixed prefix.

Text from users, tools and files must reach the model as text, never as control tokens:
:meth:`ChatTemplate.render_marked` says which spans of the rendered prompt are such text
(every message's content and thinking, earlier calls' names and arguments, tools'
descriptions) by rendering once more with a placeholder in place of each, and
:mod:`seedchat.seed.prompt_tokens` tokenizes those spans with special-token parsing off.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from seedchat.documents.read import Document
from seedchat.errors import EngineError
from seedchat.seed.tags import BOS, EOS

log = logging.getLogger(__name__)

#: A placeholder's brackets: private-use characters, never in a template's own text.
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"


@dataclass
class Message:
    role: str  # "system" | "user" | "assistant" | "tool"
    content: str
    thinking: str | None = None  # an assistant turn's thinking, if kept
    # An assistant turn's tool calls: [{"name": str, "arguments": {name: value}}].
    tool_calls: list[dict[str, Any]] | None = None
    # The files written into ``content`` (seedchat.documents.read.attach), kept apart too: an API
    # request's file parts, saved as attachments or replaced by passages (seedchat.documents.retrieval).
    attachments: tuple[Document, ...] = ()

    def to_template(self, text: Callable[[str], str] = str) -> dict[str, Any]:
        """The message as the template reads it; ``text`` maps each string that is text
        (content, thinking, a call's name, argument names and values)."""
        out: dict[str, Any] = {"role": self.role, "content": text(self.content)}
        if self.thinking:
            out["reasoning_content"] = text(self.thinking)
        if self.tool_calls:
            out["tool_calls"] = [_template_tool_call(call, text) for call in self.tool_calls]
        return out


def _template_tool_call(call: dict[str, Any], text: Callable[[str], str] = str) -> dict[str, Any]:
    """A call as Seed's template reads it, its arguments a mapping. A value that is not a
    string is written as JSON (``true``, ``3``, ``{"a": 1}``), the way the model writes it,
    not as Python's ``True``."""
    arguments = {
        text(name): text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for name, value in call.get("arguments", {}).items()
    }
    function = {"name": text(call["name"]), "arguments": arguments}
    return {"type": "function", "function": function}


def sorted_tools(tools: list[dict] | None) -> list[dict] | None:
    """``tools`` in a stable order: by function name, then by their whole JSON."""
    if not tools:
        return None

    def key(tool: Any) -> tuple[str, str]:
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        return str(name or ""), json.dumps(tool, sort_keys=True, default=str)

    return sorted(tools, key=key)


def _marked_tools(tools: list[dict] | None, text: Callable[[str], str]) -> list[dict] | None:
    """``tools`` with their descriptions (the tool's and each parameter's) mapped by ``text``."""
    if not tools:
        return tools
    tools = copy.deepcopy(tools)
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            continue
        if isinstance(function.get("description"), str):
            function["description"] = text(function["description"])
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        for name, spec in properties.items() if isinstance(properties, dict) else ():
            if isinstance(spec, dict) and isinstance(spec.get("description"), str):
                # a new dict: parameters may share one schema (the copy keeps them shared)
                properties[name] = {**spec, "description": text(spec["description"])}
    return tools


@dataclass(frozen=True)
class RenderedPrompt:
    """A rendered prompt and the spans of it that are text from users, tools or files:
    tokenized as text, never as control tokens (:mod:`seedchat.seed.prompt_tokens`)."""

    text: str
    text_spans: tuple[tuple[int, int], ...] = ()

    def text_parts(self) -> list[tuple[str, bool]]:
        """The prompt in order as (piece, is_text) pairs; the pieces join to :attr:`text`."""
        parts, at = [], 0
        for start, end in self.text_spans:
            parts += [(self.text[at:start], False), (self.text[start:end], True)]
            at = end
        parts.append((self.text[at:], False))
        return [(piece, is_text) for piece, is_text in parts if piece]

    def defanged(self, tags: Sequence[str]) -> str:
        """The text with each of ``tags`` inside a text span broken by a word joiner after
        its first character: for a server that tokenizes a prompt it is given as text."""
        out = []
        for piece, is_text in self.text_parts():
            if is_text:
                for tag in tags:
                    piece = piece.replace(tag, tag[0] + "\u2060" + tag[1:])
            out.append(piece)
        return "".join(out)


def _candidates(content: str) -> list[str]:
    """What a template may have made of ``content``: as it is, trimmed, or inside JSON."""
    out = []
    for form in (
        content,
        content.strip(),
        content.rstrip(),
        content.lstrip(),
        json.dumps(content, ensure_ascii=False)[1:-1],
    ):
        if form not in out:
            out.append(form)
    return out


def _align(text: str, marked: str, pattern: re.Pattern, contents: list[str]) -> list | None:
    """The spans of ``text`` where the placeholders of ``marked`` stand (None: no match)."""
    parts = pattern.split(marked)  # [template, index, template, index, …, template]
    at, spans = 0, []
    for k in range(0, len(parts), 2):
        if not text.startswith(parts[k], at):
            return None
        at += len(parts[k])
        if k + 1 == len(parts):
            break
        after = parts[k + 2]
        for form in _candidates(contents[int(parts[k + 1])]):
            if text.startswith(form, at) and text.startswith(after, at + len(form)):
                spans.append((at, at + len(form)))
                at += len(form)
                break
        else:
            return None
    return spans if at == len(text) else None


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
        json_tools: bool = False,
    ) -> str:
        """The prompt. ``json_tools``: tools as JSON schemas (the template's
        ``use_json_tooldef``) instead of Python signatures."""
        tools = sorted_tools(tools)
        return self._render(
            [m.to_template() for m in messages],
            tools,
            thinking_budget,
            add_generation_prompt,
            json_tools,
        )

    def render_marked(
        self,
        messages: Sequence[Message],
        thinking_budget: int = -1,
        tools: list[dict] | None = None,
        add_generation_prompt: bool = True,
        json_tools: bool = False,
    ) -> RenderedPrompt:
        """The prompt, with the spans that are text (see :class:`RenderedPrompt`).

        Rendered twice: as it is, and with a placeholder in place of each text; the
        placeholders' places in the second show the texts' spans in the first. If a
        template changes a text in a way that cannot be matched (trimming and JSON escaping
        can), the prompt is the second rendering with each text put in as it is (logged).
        """
        tools = sorted_tools(tools)
        text = self._render(
            [m.to_template() for m in messages],
            tools,
            thinking_budget,
            add_generation_prompt,
            json_tools,
        )
        nonce = uuid.uuid4().hex[:12]
        contents: list[str] = []

        def mark(value: str) -> str:
            if not value.strip():  # whitespace: never a control token, and the template may test it
                return value
            contents.append(value)
            return f"{_MARK_OPEN}{nonce}:{len(contents) - 1}{_MARK_CLOSE}"

        marked_messages = [m.to_template(mark) for m in messages]
        marked = self._render(
            marked_messages,
            _marked_tools(tools, mark),
            thinking_budget,
            add_generation_prompt,
            json_tools,
        )
        pattern = re.compile(f"{_MARK_OPEN}{nonce}:(\\d+){_MARK_CLOSE}")
        spans = _align(text, marked, pattern, contents)
        if spans is not None:
            return RenderedPrompt(text, tuple(spans))
        log.warning("the chat template changed a message's text; it is put in as it is")
        out, spans, parts = [], [], pattern.split(marked)
        for k, part in enumerate(parts):
            at = sum(map(len, out))
            out.append(part if k % 2 == 0 else contents[int(part)])
            if k % 2:
                spans.append((at, at + len(out[-1])))
        return RenderedPrompt("".join(out), tuple(spans))

    def _render(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict] | None,
        thinking_budget: int,
        add_generation_prompt: bool,
        json_tools: bool,
    ) -> str:
        if self._compiled is None:
            self._compiled = _environment().from_string(self.source)
        extra = {"use_json_tooldef": True} if json_tools else {}
        try:
            return self._compiled.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                thinking_budget=thinking_budget,
                tools=tools or None,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                **extra,
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


#: The official Seed-OSS chat template that seedchat ships.
SEED_TEMPLATE_FILE = Path(__file__).parent.parent / "data" / "templates" / "seed-oss.jinja"


@functools.cache
def seed_template() -> ChatTemplate:
    """The official Seed-OSS chat template that seedchat ships (for a model whose own is not
    here: on a server, or none loaded)."""
    return ChatTemplate(SEED_TEMPLATE_FILE.read_text(encoding="utf-8"))


def template_from_metadata(metadata: dict[str, Any]) -> ChatTemplate | None:
    source = metadata.get("tokenizer.chat_template")
    return ChatTemplate(source) if isinstance(source, str) and source.strip() else None
