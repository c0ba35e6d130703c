"""What tools cost in a prompt: each tool rendered by the model's own chat template and
counted with its tokenizer.

A tool's cost is the tokens its definition adds to a short conversation (a system prompt
and a question) rendered with the template, ``count(with the tool) - count(without
tools)``; the block's cost is the same for all of them together (less than the sum: the
tools' heading is paid once). Counting needs a tokenizer: a loaded engine's
``tokenize``, or :class:`VocabCounter` (a GGUF's vocabulary alone, loaded by llama.cpp in
milliseconds with no weights). With no model at all, the callers count with
:func:`seedchat.engine.host.count_text`'s estimate and say that it is one.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seedchat.backend import load_backend
from seedchat.errors import EngineError
from seedchat.models import read_gguf_info
from seedchat.seed.template import ChatTemplate, Message, template_from_metadata
from seedchat.tools.results import ToolInfo

#: The conversation a tool's cost is measured on.
PROBE = (Message("system", "You are a helpful assistant."), Message("user", "Hello."))

Counter = Callable[[str], int]


@dataclass(frozen=True)
class ToolCosts:
    per_tool: dict[tuple[str, str], int] = field(default_factory=dict)  # (server, tool)
    total: int = 0
    basis: str = ""  # how they were counted, for a reader


def tool_costs(
    tools: Sequence[ToolInfo], template: ChatTemplate, count: Counter, basis: str = ""
) -> ToolCosts:
    """Each tool's prompt cost and the cost of all of them, in ``template``'s tokens."""
    base = count(template.render(list(PROBE)))

    def cost(chosen: Sequence[ToolInfo]) -> int:
        rendered = template.render(list(PROBE), tools=[t.to_template() for t in chosen])
        return max(0, count(rendered) - base)

    per_tool = {(t.server, t.name): cost([t]) for t in tools}
    return ToolCosts(per_tool, cost(tools) if tools else 0, basis)


class VocabCounter:
    """Token counts with a GGUF's tokenizer, and its chat template (llama.cpp's vocab-only
    load: no weights are read). Use it as a context manager, or :meth:`close` it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        info = read_gguf_info(self.path)
        self.template = template_from_metadata(info.metadata)
        self._llama = load_backend()
        params = self._llama.llama_model_default_params()
        params.vocab_only = True
        self._model = self._llama.llama_model_load_from_file(str(self.path).encode(), params)
        if not self._model:
            raise EngineError(f"llama.cpp could not read the tokenizer of {self.path.name}.")
        self._vocab = self._llama.llama_model_get_vocab(self._model)

    def tokens(self, text: str) -> int:
        """How many tokens ``text`` is, the template's tags counted as the special tokens
        they are."""
        data = text.encode("utf-8")
        n_max = len(data) + 16
        buf = (ctypes.c_int32 * n_max)()
        n = self._llama.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, True)
        if n < 0:
            raise EngineError(f"Counting tokens with {self.path.name} failed.")
        return int(n)

    __call__ = tokens

    def close(self) -> None:
        if self._model:
            self._llama.llama_model_free(self._model)
            self._model = None

    def __enter__(self) -> VocabCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
