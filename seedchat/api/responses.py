"""seedchat's events in OpenAI's shapes: streamed chunks and whole completions.

A :class:`Reply` follows one generation. Feed it the engine's events as they arrive
(:meth:`Reply.feed`) and it returns the chunks to stream; :meth:`Reply.finish` gives the last ones (the finish
reason, then usage when asked), :meth:`Reply.completion` the non-streamed answer.

- Thinking goes out as **both** ``reasoning_content`` (llama.cpp, DeepSeek, Cline, Open
  WebUI) and ``reasoning`` (vLLM, Ollama); the answer as ``content``, never with a tag.
- The model's budget reports are data, not text: ``seedchat_reflect`` ``{used, remaining,
  exhausted, true_count, injected}`` on a delta of their own; the end of thinking is
  ``seedchat_thinking`` ``{tokens, seconds, forced, unclosed}``; notices ``seedchat_notice``.
- Tool calls become OpenAI ``tool_calls`` (arguments typed by the tool's JSON schema) and
  the finish reason ``tool_calls``, also when written after the answer began or with a
  budget of 0. A call to a tool the request did not offer (or with no tools in it) stays
  answer text. One written inside
  the thinking is thinking text already (the parser, :mod:`seedchat.seed.thinking`, reads calls
  only outside thinking, as vLLM's Seed-OSS parser does).
- ``stop`` sequences end the answer where they begin (their text is not sent): a piece
  that could be the start of one is held back until it is known. :attr:`Reply.stopped`
  tells the caller to stop the model.
- ``usage.completion_tokens_details.reasoning_tokens`` is the true thinking count;
  ``prompt_tokens_details.cached_tokens`` the prompt tokens reused from the KV cache.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

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
from seedchat.seed.tool_calls import offered, openai_tool_call

Chunk = dict[str, Any]

_FINISH = {"stop": "stop", "length": "length", "cancelled": "stop", "error": "stop"}


def _reflect(event: Reflect) -> dict[str, Any]:
    data = asdict(event)
    data.pop("raw")
    return data


_TEXT_KEYS = ({"content"}, {"reasoning_content", "reasoning"})


def joined_parts(
    events: list[Event],
    part_of: Callable[[Event], dict[str, Any] | None],
    text_keys: tuple[set[str], ...] = _TEXT_KEYS,
) -> tuple[list[dict[str, Any]], Done | None]:
    """The parts ``events`` make (``part_of``: an event's part, None for none), text that
    arrived together joined into one part (a reader that falls behind the model gets
    fewer, longer parts instead of a growing backlog); and the ``Done`` among them. Both
    APIs' streams (OpenAI's chunks, Ollama's objects) are made by it."""
    parts: list[dict[str, Any]] = []
    done = None
    for event in events:
        if isinstance(event, Done):
            done = event
            continue
        part = part_of(event)
        if part is None:
            continue
        last = parts[-1] if parts else None
        if last is not None and last.keys() == part.keys() and set(part) in text_keys:
            parts[-1] = {k: last[k] + part[k] for k in part}
        else:
            parts.append(part)
    return parts, done


class StopScanner:
    """Cuts answer text at the first stop sequence, holding back a possible beginning."""

    def __init__(self, sequences: list[str]) -> None:
        self.sequences = sequences
        self.held = ""
        self.hit = False

    def feed(self, text: str) -> str:
        """The part of ``text`` that is safe to send now."""
        if not self.sequences or self.hit:
            return "" if self.hit else text
        buf = self.held + text
        cuts = [i for i in (buf.find(s) for s in self.sequences) if i >= 0]
        if cuts:
            self.hit, self.held = True, ""
            return buf[: min(cuts)]
        keep = max(
            (n for s in self.sequences for n in range(1, len(s)) if buf.endswith(s[:n])), default=0
        )
        self.held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        held, self.held = self.held, ""
        return "" if self.hit else held


class Reply:
    """One reply of ``/v1/chat/completions`` (``chat=True``) or ``/v1/completions``."""

    def __init__(
        self,
        model: str,
        tools: list[dict[str, Any]] | None = None,
        stop: list[str] | None = None,
        chat: bool = True,
        include_usage: bool = False,
    ) -> None:
        self.model, self.tools, self.chat = model, tools, chat
        self.include_usage = include_usage  # streamed: a last chunk with the usage
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.stop = StopScanner(stop or [])
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.reflects: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        self.thinking: dict[str, Any] | None = None
        self.tool_calls: list[dict[str, Any]] = []
        self.done: Done | None = None

    @property
    def stopped(self) -> bool:
        """A stop sequence was met: the model should stop."""
        return self.stop.hit

    # -- streaming -------------------------------------------------------------------

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        if self.chat:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            kind = "chat.completion.chunk"
        else:
            choice = {
                "index": 0,
                "text": delta.get("content", ""),
                "logprobs": None,
                "finish_reason": finish,
            }
            kind = "text_completion"
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }

    def opening(self) -> list[Chunk]:
        """The first chunk of a stream: the assistant's role."""
        return [self._chunk({"role": "assistant", "content": ""})] if self.chat else []

    def feed(self, events: list[Event]) -> list[Chunk]:
        """The chunks ``events`` make (none once a stop sequence was met). Text that
        arrived together goes out together: a reader that falls behind the model gets
        fewer, longer chunks instead of a growing backlog."""
        deltas, done = joined_parts(events, self._delta)
        self.done = done or self.done
        return [self._chunk(delta) for delta in deltas]

    def _delta(self, event: Event) -> dict[str, Any] | None:
        if self.stopped:
            return None
        if isinstance(event, AnswerDelta):
            return self._answer(event.text)
        if isinstance(event, ThinkingStart):
            return None
        if isinstance(event, ThinkingDelta) and self.chat:
            return self._reasoning(event.text)
        if isinstance(event, ThinkingDelta):
            return self._answer(event.text)  # plain completion: all of it is text
        if isinstance(event, Reflect):
            self.reflects.append(_reflect(event))
            return {"seedchat_reflect": self.reflects[-1]}
        if isinstance(event, ThinkingEnd):
            self.thinking = asdict(event)
            return {"seedchat_thinking": self.thinking}
        if isinstance(event, ToolCall):
            return self._tool_call(event)
        if isinstance(event, Notice):
            self.notices.append(asdict(event))
            return {"seedchat_notice": self.notices[-1]}
        return None

    def _answer(self, text: str) -> dict[str, Any] | None:
        safe = self.stop.feed(text)
        if not safe:
            return None
        self.content.append(safe)
        return {"content": safe}

    def _reasoning(self, text: str) -> dict[str, Any]:
        self.reasoning.append(text)
        return {"reasoning_content": text, "reasoning": text}

    def _tool_call(self, call: ToolCall) -> dict[str, Any] | None:
        if not self.chat or not offered(call, self.tools):  # no such tool asked for: text
            return self._answer(call.raw)
        self.tool_calls.append(openai_tool_call(call, self.tools, len(self.tool_calls)))
        return {"tool_calls": [self.tool_calls[-1]]}

    def finish_reason(self) -> str:
        if self.stopped:
            return "stop"
        reason = _FINISH.get(self.done.finish_reason if self.done else "stop", "stop")
        return "tool_calls" if self.tool_calls and reason == "stop" else reason

    def finish(self) -> list[Chunk]:
        """The last chunks: held-back text, the finish reason, then usage if asked."""
        chunks = []
        rest = self.stop.flush()
        if rest:
            self.content.append(rest)
            chunks.append(self._chunk({"content": rest}))
        chunks.append(self._chunk({}, finish=self.finish_reason()))
        if self.include_usage:
            chunks.append({**self._chunk({}), "choices": [], "usage": self.usage()})
        return chunks

    # -- whole -----------------------------------------------------------------------

    def usage(self) -> dict[str, Any]:
        done = self.done or Done("stop")
        return {
            "prompt_tokens": done.prompt_tokens,
            "completion_tokens": done.generated_tokens,
            "total_tokens": done.prompt_tokens + done.generated_tokens,
            "prompt_tokens_details": {
                "cached_tokens": done.prompt_tokens - done.evaluated_prompt_tokens
            },
            "completion_tokens_details": {"reasoning_tokens": done.thinking_tokens},
        }

    def completion(self) -> dict[str, Any]:
        """The whole reply (``stream: false``), once the generation ended."""
        self.content.append(self.stop.flush())
        text = "".join(self.content)
        if not self.chat:
            choice = {
                "index": 0,
                "text": text,
                "logprobs": None,
                "finish_reason": self.finish_reason(),
            }
            return {
                "id": self.id,
                "object": "text_completion",
                "created": self.created,
                "model": self.model,
                "choices": [choice],
                "usage": self.usage(),
            }
        reasoning = "".join(self.reasoning) or None
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text or None,
            "reasoning_content": reasoning,
            "reasoning": reasoning,
        }
        if self.tool_calls:
            message["tool_calls"] = [
                {k: v for k, v in c.items() if k != "index"} for c in self.tool_calls
            ]
        message["seedchat_reflects"] = self.reflects
        if self.thinking is not None:
            message["seedchat_thinking"] = self.thinking
        if self.notices:
            message["seedchat_notices"] = self.notices
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": self.finish_reason(),
        }
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": self.usage(),
        }
