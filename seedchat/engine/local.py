"""The engine: a small adapter over llama.cpp's C API (through llama-cpp-python).

It loads a GGUF, renders prompts with the model's own template, evaluates only what
follows the longest common prefix with what is already in the KV cache, samples with
llama.cpp's C sampler chain, and turns the output into the typed events of
:mod:`seedchat.events` through :class:`~seedchat.seed.thinking.ThinkingParser`. With a hard
thinking budget it injects the "exhausted" report and ``</seed:think>`` as tokens when
the true count reaches the budget, then lets the model answer.

Use::

    engine = Engine.load("model.gguf", LoadOptions(context_length=8192))
    for event in engine.generate([Message("user", "Hi")], GenerationOptions(budget=512)):
        ...
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedchat.backend import available_ram_bytes, detect_gpus, load_backend
from seedchat.engine.decoding import DecodeLoop, LoopLimits
from seedchat.engine.kv_snapshots import SnapshotCache
from seedchat.engine.load_progress import LoadProgressFn, LoadWatch
from seedchat.engine.lookup import MAX_DRAFT, Drafter
from seedchat.engine.reply_budget import ReplyBudget
from seedchat.errors import ContextLengthError, EngineError, ModelFileError
from seedchat.events import Event, Notice, Prefill
from seedchat.models import ModelInfo, human_size, read_gguf_info
from seedchat.planner import OffloadPlan, plan_offload, read_shape, reply_room
from seedchat.seed import tags
from seedchat.seed.prompt_tokens import LastReply, continued_tokens, prompt_tokens
from seedchat.seed.template import ChatTemplate, Message, RenderedPrompt, template_from_metadata
from seedchat.settings import GenerationOptions, LoadOptions
from seedchat.wording import dropped_notice

__all__ = ["Engine", "GenerationOptions", "LoadOptions", "Sampling", "TurnStats", "make_plan"]

log = logging.getLogger(__name__)

SUPPORTED_ARCHS = ("seed_oss", "llama")
_KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}  # ggml_type values
DEFAULT_TEMPERATURE, DEFAULT_TOP_P = 1.1, 0.95
#: the prompt's batch size (n_batch = n_ubatch) on the CPU, from benchmarks/bench_prefill.py
#: --batches (docs/benchmarks.md); with GPU layers llama.cpp's defaults are kept
CPU_N_BATCH = 512
MAX_ROWS = MAX_DRAFT + 1  # a token and its drafts, decoded in one batch
# llama_token_attr bits of the tokens llama.cpp matches as special text (llama.h)
_SPECIAL_ATTRS = (1 << 0) | (1 << 3) | (1 << 4)  # UNKNOWN | CONTROL | USER_DEFINED


@dataclass(frozen=True)
class Sampling:
    """The sampling of one reply, as the sampler chain was built."""

    temperature: float
    top_p: float
    top_k: int  # 0: off
    seed: int | None  # None: random


@dataclass
class TurnStats:
    prompt_tokens: int = 0
    evaluated_prompt_tokens: int = 0
    reused_tokens: int = 0
    dropped_messages: int = 0
    sampling: Sampling | None = None
    restored_tokens: int = 0  # put back from a saved KV state (seedchat.engine.kv_snapshots)


@dataclass
class Engine:
    path: Path
    info: ModelInfo
    plan: OffloadPlan
    template: ChatTemplate | None
    _llama: object = field(repr=False)
    _model: object = field(repr=False)
    _ctx: object = field(repr=False)
    _vocab: object = field(repr=False)
    n_ctx: int = 0
    n_batch: int = 512
    last_turn: TurnStats = field(default_factory=TurnStats)
    _tokens: list[int] = field(default_factory=list, repr=False)  # what the KV cache holds
    _script: list[int] | None = field(default=None, repr=False)  # see script_next_reply
    _rows_batch: object = field(default=None, repr=False)  # decode_rows' reusable batch
    _piece_buf: object = field(default_factory=lambda: ctypes.create_string_buffer(256), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    snapshots: SnapshotCache | None = field(default=None, repr=False)  # saved KV states
    _restored: int = field(default=0, repr=False)  # tokens the last _prepare restored
    _last_reply: LastReply | None = field(default=None, repr=False)  # see continue_reply

    # -- loading --------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | Path,
        options: LoadOptions | None = None,
        progress: LoadProgressFn | None = None,
    ) -> Engine:
        """Load a GGUF; every failure is an :class:`EngineError`/:class:`ModelFileError`.
        ``progress`` is told the share loaded (0 to 1); returning False cancels the load
        (:class:`~seedchat.engine.load_progress.LoadCancelled`)."""
        options = options or LoadOptions()
        path = Path(path)
        info = _runnable(path, options)
        llama = load_backend()
        plan = _memory_plan(llama, path, options, info)
        model = _load_model(llama, path, plan, progress)
        ctx = _new_context(llama, model, path, plan, options)
        return cls(
            path=path,
            info=info,
            plan=plan,
            template=template_from_metadata(info.metadata),
            _llama=llama,
            _model=model,
            _ctx=ctx,
            _vocab=llama.llama_model_get_vocab(model),
            n_ctx=llama.llama_n_ctx(ctx),
            n_batch=llama.llama_n_batch(ctx),
            snapshots=SnapshotCache.open(
                path,
                options.kv_cache_type,
                options.flash_attn,
                options.kv_cache_disk_gb,
                getattr(llama, "__version__", "unknown"),
            ),
        )

    def close(self) -> None:
        if self.snapshots is not None:
            self.snapshots.close()  # the states being written are finished first
        with self._lock:
            if self._rows_batch is not None:
                self._llama.llama_batch_free(self._rows_batch)
                self._rows_batch = None
            if self._ctx:
                self._llama.llama_free(self._ctx)
                self._ctx = None
            if self._model:
                self._llama.llama_model_free(self._model)
                self._model = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tokens -----------------------------------------------------------------------

    def tokenize(self, text: str, parse_special: bool = True) -> list[int]:
        """``text``'s tokens; ``parse_special``: its control-token text becomes those tokens
        (for seedchat's own text only: a rendered conversation goes through
        :func:`~seedchat.seed.prompt_tokens.prompt_tokens`)."""
        data = text.encode("utf-8")
        n_max = len(data) + 16
        buf = (ctypes.c_int32 * n_max)()
        n = self._llama.llama_tokenize(
            self._vocab, data, len(data), buf, n_max, False, parse_special
        )
        if n < 0:
            raise EngineError("Tokenizing the prompt failed.")
        return buf[:n]  # a list already

    def is_special(self, token: int) -> bool:
        """A control or user-defined token (``<seed:eos>``, ``<seed:think>``…)."""
        return token in self.special_ids

    @functools.cached_property
    def special_ids(self) -> frozenset[int]:
        """Every control or user-defined token of the vocabulary (read once)."""
        attr, vocab = self._llama.llama_vocab_get_attr, self._vocab
        n_vocab = self._llama.llama_vocab_n_tokens(vocab)
        return frozenset(t for t in range(n_vocab) if attr(vocab, t) & _SPECIAL_ATTRS)

    @functools.cached_property
    def tool_tags(self) -> dict[int, str]:
        """The special tool-call tokens by id, when the vocabulary has both tags as single
        special tokens: the decode loop tells the model's own tags from copied text by them
        (``{}`` otherwise: the parser then reads the tags from text)."""
        found = {}
        for tag in (tags.TOOL_CALL_OPEN, tags.TOOL_CALL_CLOSE):
            ids = self.tokenize(tag, parse_special=True)
            if len(ids) != 1 or not self.is_special(ids[0]) or self.piece(ids[0]) != tag.encode():
                return {}
            found[ids[0]] = tag
        return found

    def _piece(self, token: int, buf: ctypes.Array) -> bytes:
        n = self._llama.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, True)
        if n < 0:
            big = ctypes.create_string_buffer(-n)
            n = self._llama.llama_token_to_piece(self._vocab, token, big, -n, 0, True)
            return big.raw[:n]
        return buf.raw[:n]

    # -- the decode loop's calls (seedchat.engine.decoding) -----------------------------------

    @property
    def cached_tokens(self) -> int:
        """Tokens the KV cache holds."""
        return len(self._tokens)

    def piece(self, token: int) -> bytes:
        """The bytes of one token as text (special tokens too)."""
        return self._piece(token, self._piece_buf)

    def is_end(self, token: int) -> bool:
        return bool(self._llama.llama_vocab_is_eog(self._vocab, token))

    def decode(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` after the cache; logits for the last one."""
        self._decode(tokens)

    def decode_rows(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` (at most MAX_ROWS) after the cache in one batch, with logits
        for every one of them: row ``i`` gives the next token after ``tokens[i]``."""
        llama, batch, start = self._llama, self._rows_batch, len(self._tokens)
        if batch is None:
            batch = self._rows_batch = llama.llama_batch_init(MAX_ROWS, 0, 1)
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, start + i, 1
            batch.seq_id[i][0], batch.logits[i] = 0, 1
        rc = llama.llama_decode(self._ctx, batch)
        if rc != 0:
            raise EngineError(
                f"llama.cpp failed to evaluate tokens (code {rc}).",
                hint="The context may be full; start a new conversation.",
            )
        self._tokens.extend(tokens)

    def forget_last(self, n: int) -> None:
        """Remove the last ``n`` tokens from the KV cache (drafts that were not taken)."""
        keep = len(self._tokens) - n
        mem = self._llama.llama_get_memory(self._ctx)
        if not self._llama.llama_memory_seq_rm(mem, 0, keep, -1):
            raise EngineError("llama.cpp could not drop tokens from the context.")
        del self._tokens[keep:]

    def sample(self, sampler: object, row: int) -> int | None:
        """The sampler's pick from logits ``row`` of the last batch (-1: its last); None
        when a scripted reply is over (see :meth:`script_next_reply`)."""
        script = self._script
        if script is None:
            return self._llama.llama_sampler_sample(sampler, self._ctx, row)
        return script.pop(0) if script else None

    def _decode(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` after what the cache holds, in batches of n_batch."""
        for i in range(0, len(tokens), self.n_batch):
            chunk = tokens[i : i + self.n_batch]
            arr = (ctypes.c_int32 * len(chunk))(*chunk)
            rc = self._llama.llama_decode(
                self._ctx, self._llama.llama_batch_get_one(arr, len(chunk))
            )
            if rc != 0:
                raise EngineError(
                    f"llama.cpp failed to evaluate tokens (code {rc}).",
                    hint="The context may be full; start a new conversation.",
                )
            self._tokens.extend(chunk)

    def _prefill(self, tokens: list[int], cancel: threading.Event | None) -> Iterator[Prefill]:
        """Evaluate the prompt's ``tokens`` after the cache. Longer than one batch: a
        :class:`Prefill` after each batch (the last at ``done == total``), and ``cancel``
        is checked between batches (the cache then holds the prefix evaluated)."""
        total = len(tokens)
        if total <= self.n_batch:
            self._decode(tokens)
            return
        started = time.monotonic()
        for i in range(0, total, self.n_batch):
            if cancel is not None and cancel.is_set():
                return
            self._decode(tokens[i : i + self.n_batch])
            done = min(i + self.n_batch, total)
            rate = done / max(time.monotonic() - started, 1e-6)
            yield Prefill(done, total, rate, (total - done) / rate)

    def _prepare(self, prompt: list[int]) -> int:
        """Reuse the longest common prefix in the KV cache; return how many tokens to evaluate."""
        common = 0
        limit = min(len(self._tokens), len(prompt) - 1)  # evaluate ≥ 1 token to get logits
        while common < limit and self._tokens[common] == prompt[common]:
            common += 1
        # always: a batch interrupted after llama_decode (Ctrl+C) may hold more than _tokens
        mem = self._llama.llama_get_memory(self._ctx)
        if not self._llama.llama_memory_seq_rm(mem, 0, common, -1):
            self._llama.llama_memory_clear(mem, True)
            common = 0
        del self._tokens[common:]
        self._restored = 0
        if self.snapshots is not None:  # a saved state may give more than the cache holds
            got = self.snapshots.restore(
                self._llama, self._ctx, prompt, common, self.n_ctx, self.n_batch
            )
            if got is not None:  # the cache was replaced (0: emptied)
                common, self._restored = 0, got
                self._tokens[:] = prompt[:got]
        return len(prompt) - common - self._restored

    # -- prompts ----------------------------------------------------------------------

    def render(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        """The prompt the model reads for ``messages`` (``--show-prompt`` prints it)."""
        return self._rendered(messages, options).text

    def _rendered(self, messages: Sequence[Message], options: GenerationOptions) -> RenderedPrompt:
        if self.template is None:
            raise EngineError(
                f"{self.path.name} has no chat template.",
                hint="Use raw completion (--raw), or convert the model again.",
            )
        return self.template.render_marked(messages, options.budget, options.tools)

    def _fit(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> tuple[list[int], str, list[Message]]:
        """Tokens of the rendered prompt, dropping the oldest turns if it outgrows the context
        (returned, so they are named). Only the template's own tags are special tokens: the
        messages' text is text."""
        msgs = list(messages)
        dropped: list[Message] = []
        room = reply_room(self.n_ctx, options.max_tokens)
        while True:
            rendered = self._rendered(msgs, options)
            text = rendered.text
            tokens = None if dropped else self._continued(rendered, options)
            if tokens is None or len(tokens) + room > self.n_ctx:
                tokens = prompt_tokens(self, rendered)
            if len(tokens) + room <= self.n_ctx:
                return tokens, text, dropped
            first = 1 if msgs and msgs[0].role == "system" else 0
            if len(msgs) - first <= 1:
                raise ContextLengthError(
                    f"The message is too long for the context ({len(tokens)} tokens of "
                    f"{self.n_ctx}).",
                    hint="Shorten it, or load the model with a longer context.",
                )
            dropped.append(msgs.pop(first))  # the oldest turn (user or assistant)

    def _continued(self, rendered: RenderedPrompt, options: GenerationOptions) -> list[int] | None:
        """With ``options.continue_reply``, the prompt as the last reply's prompt and tokens
        (still in the cache) and what follows it (:func:`continued_tokens`)."""
        last = self._last_reply
        if not options.continue_reply or last is None or list(last.tokens) != self._tokens:
            return None
        return continued_tokens(self, rendered, last)

    def script_next_reply(self, reply: str | Sequence[int]) -> None:
        """A test hook: the next reply is ``reply`` (a text, its tags special tokens, or
        the tokens themselves), taken token by token in place of what the sampler would
        pick, through everything else as usual (the model evaluates each token, the
        parser, the budget, the events), then the reply ends. For exact model output that
        a tiny test model cannot be relied on to write (a Seed tool call)."""
        self._script = self.tokenize(reply) if isinstance(reply, str) else list(reply)

    def _prompt(
        self, messages: Sequence[Message] | str, options: GenerationOptions
    ) -> tuple[list[int], str, list[Message]]:
        """The prompt's tokens and text, and the old messages left out for it."""
        if not isinstance(messages, str):
            return self._fit(messages, options)
        prompt = self.tokenize(messages)
        if len(prompt) >= self.n_ctx:
            raise ContextLengthError(
                f"The prompt ({len(prompt)} tokens) does not fit the context of {self.n_ctx}.",
                hint="Shorten it, or load the model with a longer context.",
            )
        return prompt, messages, []

    # -- generation -------------------------------------------------------------------

    def generate(
        self,
        messages: Sequence[Message] | str,
        options: GenerationOptions | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Stream the typed events of one reply (ends with :class:`Done`)."""
        options = options or GenerationOptions()
        if not self._ctx:
            raise EngineError("The model was unloaded.", hint="Load it again.")
        with self._lock:
            yield from self._generate(messages, options, cancel)

    def _banned_after_thinking(self) -> list[int]:
        """Single-token opening tags the answer must not start (think, budget report)."""
        ids = []
        for tag in (tags.THINK_OPEN, tags.REFLECT_OPEN):
            tokens = self.tokenize(tag)
            if len(tokens) == 1:
                ids.append(tokens[0])
        return ids

    def sampling(self, options: GenerationOptions) -> Sampling:
        """The sampling a reply with ``options`` uses: ``None`` values take the model's
        own defaults (``general.sampling.*`` in its GGUF), else Seed's 1.1 / 0.95."""
        meta = self.info.metadata
        temp = options.temperature
        if temp is None:
            temp = meta.get("general.sampling.temp", DEFAULT_TEMPERATURE)
        top_p = options.top_p
        if top_p is None:
            top_p = meta.get("general.sampling.top_p", DEFAULT_TOP_P)
        top_k = options.top_k or int(meta.get("general.sampling.top_k", 0) or 0)
        return Sampling(float(temp), float(top_p), top_k, options.seed)

    def _sampler(self, sampling: Sampling, banned: Sequence[int] = ()) -> object:
        """The C sampler chain; ``banned`` tokens get a logit bias of minus infinity."""
        llama = self._llama
        chain = llama.llama_sampler_chain_init(llama.llama_sampler_chain_default_params())
        if banned:
            biases = (llama.llama_logit_bias * len(banned))(
                *(llama.llama_logit_bias(t, float("-inf")) for t in banned)
            )
            n_vocab = llama.llama_vocab_n_tokens(self._vocab)
            llama.llama_sampler_chain_add(
                chain, llama.llama_sampler_init_logit_bias(n_vocab, len(banned), biases)
            )
        if sampling.temperature <= 0:
            llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_greedy())
            return chain
        if sampling.top_k > 0:
            llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_top_k(sampling.top_k))
        if 0 < sampling.top_p < 1:
            llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_top_p(sampling.top_p, 1))
        llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_temp(sampling.temperature))
        seed = sampling.seed if sampling.seed is not None else 0xFFFFFFFF  # LLAMA_DEFAULT_SEED
        llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_dist(seed))
        return chain

    def _generate(
        self,
        messages: Sequence[Message] | str,
        options: GenerationOptions,
        cancel: threading.Event | None,
    ) -> Iterator[Event]:
        llama = self._llama
        budget = ReplyBudget(options)
        prompt, prompt_text, dropped = self._prompt(messages, options)  # before any event
        self._last_reply = None
        yield from budget.notices
        if dropped:
            yield Notice(dropped_notice(dropped, self.n_ctx), kind="context")
        parser = budget.parser(prompt_text, marked=bool(self.tool_tags))
        evaluate = self._prepare(prompt)
        reused = len(prompt) - evaluate - self._restored
        self.last_turn = TurnStats(len(prompt), evaluate, reused, len(dropped))
        self.last_turn.restored_tokens = self._restored
        sampling = self.sampling(options)
        self.last_turn.sampling = sampling
        chain = self._sampler(sampling)
        # once thinking has closed (by the model or a forced cut), the answer may not open
        # another think block or budget report: those would swallow the answer
        banned = [] if options.raw else self._banned_after_thinking()
        answer_chain = self._sampler(sampling, banned) if banned else chain
        limits = LoopLimits(options.max_tokens, budget, cancel)
        drafter = Drafter.over(prompt) if options.lookup_decoding == "auto" else None
        loop = DecodeLoop(self, parser, (chain, answer_chain), limits, drafter)
        prefill_started = time.monotonic()
        try:
            yield from self._prefill(prompt[len(prompt) - evaluate :], cancel)
            evaluate -= len(prompt) - len(self._tokens)  # less when cancelled
            self.last_turn.evaluated_prompt_tokens = evaluate
            prefill_done = time.monotonic()
            yield from loop.run()  # ends at once, "cancelled", when the prefill was
        finally:
            self._script = None
            llama.llama_sampler_free(chain)
            if answer_chain is not chain:
                llama.llama_sampler_free(answer_chain)
        if not options.raw and self._tokens[: len(prompt)] == prompt:  # the whole prompt read
            self._last_reply = LastReply.after(prompt_text, self._tokens)
        done = budget.done(
            loop.finish,
            prompt_tokens=len(prompt),
            evaluated_prompt_tokens=evaluate,
            generated_tokens=loop.generated,
            thinking_tokens=parser.thinking_tokens,
            first_token_at=loop.first_token_at,
            prefill_done=prefill_done,
            prefill_started=prefill_started,
            drafted_tokens=loop.drafted,
            accepted_tokens=loop.accepted,
            restored_prompt_tokens=self._restored,
        )
        try:
            yield done
        finally:  # the reply is shown: its prompt's KV state is saved in the background
            if self.snapshots is not None and self._tokens[: len(prompt)] == prompt:
                self.snapshots.after_reply(
                    llama, self._ctx, self._tokens, len(prompt), self.n_ctx, options.conversation
                )


def make_plan(path: Path, options: LoadOptions, gpu_offload: bool) -> OffloadPlan:
    """The offload plan for loading ``path`` with ``options`` on this machine."""
    shape = read_shape(path)
    gpus = detect_gpus()
    free = gpus[0].free_bytes if gpus else 0
    manual = None if options.n_gpu_layers == "auto" else int(options.n_gpu_layers)
    return plan_offload(
        shape,
        options.context_length,
        free,
        options.kv_cache_type,
        gpu_offload=gpu_offload and (bool(gpus) or manual is not None),
        manual_layers=manual,
        offload_kqv=options.offload_kqv,
    )


# -- loading (Engine.load) ----------------------------------------------------------------


def _runnable(path: Path, options: LoadOptions) -> ModelInfo:
    """The model's metadata, when seedchat can run it with ``options``."""
    info = read_gguf_info(path)  # rejects non-GGUF and truncated files before llama.cpp
    if info.architecture not in SUPPORTED_ARCHS:
        raise ModelFileError(
            f"{path.name} is a '{info.architecture}' model; seedchat runs Seed models "
            f"({', '.join(SUPPORTED_ARCHS)}).",
            hint="Convert a Seed-OSS or Seed-Coder checkpoint with 'seedchat convert'.",
        )
    if options.kv_cache_type not in _KV_TYPES:
        raise EngineError(
            f"Unknown KV cache type {options.kv_cache_type!r}.",
            hint=f"Use one of {', '.join(_KV_TYPES)}.",
        )
    return info


def _memory_plan(llama: Any, path: Path, options: LoadOptions, info: ModelInfo) -> OffloadPlan:
    """Where the model goes (GPU layers, KV cache); refused when RAM cannot hold it."""
    plan = make_plan(path, options, bool(llama.llama_supports_gpu_offload()))
    ram = available_ram_bytes()
    if ram is not None and plan.ram_bytes > ram * 1.1:
        raise EngineError(
            f"{path.name} needs about {human_size(plan.ram_bytes)} of memory but "
            f"{human_size(ram)} is available.",
            hint="Use a smaller quantization (e.g. Q4_K_M), a shorter context, or close "
            "other programs.",
        )
    log.info("offload plan: %s", plan.explain(info.block_count or 0))
    return plan


def _load_model(llama: Any, path: Path, plan: OffloadPlan, progress: LoadProgressFn | None) -> Any:
    """llama.cpp's model with ``plan``'s GPU layers; ``progress`` may cancel it."""
    mparams = llama.llama_model_default_params()
    mparams.n_gpu_layers = plan.n_gpu_layers
    watch = LoadWatch(llama, progress)  # kept alive until the load returns
    watch.attach(mparams)
    model = llama.llama_model_load_from_file(str(path).encode("utf-8"), mparams)
    if not model:
        watch.raise_if_stopped(path.name)
        raise EngineError(
            f"llama.cpp could not load {path.name}.",
            hint="The file may be damaged or made for a newer llama.cpp; run "
            "'seedchat --debug ...' to see llama.cpp's log.",
        )
    return model


def _new_context(
    llama: Any, model: Any, path: Path, plan: OffloadPlan, options: LoadOptions
) -> Any:
    """The model's context (KV cache, batch, threads); the model is freed if it fails."""
    cparams = llama.llama_context_default_params()
    cparams.n_ctx = plan.n_ctx
    n_batch = options.n_batch or (0 if plan.n_gpu_layers else CPU_N_BATCH)
    if n_batch:  # else llama.cpp's own sizes, which suit its GPU kernels
        cparams.n_batch = cparams.n_ubatch = n_batch
    cparams.n_threads = cparams.n_threads_batch = options.thread_count
    auto, off = llama.LLAMA_FLASH_ATTN_TYPE_AUTO, llama.LLAMA_FLASH_ATTN_TYPE_DISABLED
    cparams.flash_attn_type = auto if options.flash_attn else off
    cparams.type_k = cparams.type_v = _KV_TYPES[options.kv_cache_type]
    cparams.offload_kqv = options.offload_kqv
    ctx = llama.llama_init_from_model(model, cparams)
    if not ctx:
        llama.llama_model_free(model)
        raise EngineError(
            f"llama.cpp could not create a context of {plan.n_ctx} tokens for {path.name}.",
            hint="Try a shorter context length or the f16 KV cache type.",
        )
    return ctx
