"""What the UI does, without gradio: the loaded model, one generation at a time, cancel.

:class:`ModelHost` owns the engine shared by every browser tab. It loads a model (the
last used one, else the bundled demo), reports its state as text the page shows, and
runs one generation at a time: a second tab that sends while the model is busy gets a
notice and waits its turn, and never touches the first tab's conversation (each tab
keeps its own history). Cancel is a :class:`threading.Event` per tab, checked by the
engine between tokens.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedchat.errors import EngineError, SeedchatError
from seedchat.events import Event, Notice
from seedchat.models import ModelInfo, demo_model, read_gguf_info
from seedchat.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatSettings:
    """The generation settings the page sends with each message."""

    budget: int = -1  # -1 unlimited, 0 answer directly
    enforcement: str = "hard"
    temperature: float = 1.1
    top_p: float = 0.95
    max_tokens: int = 8192
    system_prompt: str = ""

    def messages(self, history: list[dict[str, str]]) -> list[dict[str, str]]:
        """The conversation for the engine: the system prompt, then plain turns."""
        out: list[dict[str, str]] = []
        if self.system_prompt.strip():
            out.append({"role": "system", "content": self.system_prompt.strip()})
        out.extend({"role": m["role"], "content": m["content"]} for m in history)
        return out


def initial_model(settings: Settings) -> Path | None:
    """The model to load at start: the last used one if it still exists, else the demo."""
    last = settings.get("model")
    if last and Path(last).is_file():
        return Path(last)
    return demo_model()


class ModelHost:
    """The engine shared by all tabs of one running app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Any = None
        self.info: ModelInfo | None = None
        self.error: str | None = None
        self.loading: Path | None = None
        self._state = threading.Lock()
        self._generating = threading.Lock()
        self._loaded = threading.Event()
        self._cancels: dict[str, threading.Event] = {}

    # -- loading -------------------------------------------------------------------

    def load(
        self,
        path: Path | str,
        remember: bool = True,
        n_gpu_layers: int | str | None = None,
        context_length: int | None = None,
    ) -> ModelInfo:
        """Load the model at ``path`` (replacing the current one); raises SeedchatError.

        ``n_gpu_layers`` ("auto" or a number) and ``context_length`` override the settings.
        """
        path = Path(path).expanduser()
        with self._state:
            self.loading = path
            self.error = None
            self._loaded.clear()
        try:
            info = read_gguf_info(path, source="demo" if path == demo_model() else "added")
            engine = _load_engine(path, self.settings, n_gpu_layers, context_length)
        except SeedchatError as err:
            with self._state:
                self.loading = None
                self.error = str(err)
                self._loaded.set()
            raise
        except Exception as exc:  # llama.cpp can fail in ways of its own
            log.exception("loading %s failed", path)
            err = EngineError(f"Could not load {path.name}: {exc}")
            with self._state:
                self.loading = None
                self.error = str(err)
                self._loaded.set()
            raise err from exc
        with self._generating:  # never swap the engine under a running generation
            old, self.engine, self.info = self.engine, engine, info
        with self._state:
            self.loading = None
            self._loaded.set()
        _close(old)
        if remember:
            try:
                self.settings.set("model", str(path))
                self.settings.save()
            except (SeedchatError, OSError) as exc:
                log.warning("could not remember the model: %s", exc)
        return info

    def will_load(self, path: Path | None) -> None:
        """Say (in ``status``) that ``path`` is about to load, before it starts."""
        if path is not None:
            with self._state:
                self.loading = path

    def load_in_background(self, path: Path | None) -> None:
        if path is None:
            with self._state:
                self.loading = None
                self.error = "No model yet: choose one in the Models tab."
                self._loaded.set()
            return

        def run() -> None:
            try:
                self.load(path, remember=False)
            except SeedchatError as err:
                log.warning("%s", err)

        threading.Thread(target=run, name="seedchat-load", daemon=True).start()

    def unload(self) -> None:
        with self._generating:
            old, self.engine, self.info = self.engine, None, None
        _close(old)

    def plan_text(self) -> str:
        """The offload plan of the loaded model, in words ("" when none is loaded)."""
        engine, info = self.engine, self.info
        if engine is None or info is None or getattr(engine, "plan", None) is None:
            return ""
        return engine.plan.explain(info.block_count or 0)

    def wait_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    def status(self) -> str:
        """One line of Markdown about the model, for the header."""
        with self._state:
            if self.loading is not None:
                return f"◌ Loading **{self.loading.name}**…"
            if self.info is not None:
                info = self.info
                quant = f" · {info.quantization}" if info.quantization else ""
                return f"● **{info.display_name}**{quant}"  # the demo's name says "(demo)"
            if self.error:
                return "○ No model loaded (load failed)"
            return "○ No model loaded"

    @property
    def model_name(self) -> str | None:
        """The loaded model's file name (what a saved answer records as its model)."""
        info = self.info
        return info.path.name if info is not None else None

    @property
    def busy(self) -> bool:
        return self._generating.locked()

    # -- generating ----------------------------------------------------------------

    def cancel_event(self, session: str) -> threading.Event:
        with self._state:
            return self._cancels.setdefault(session, threading.Event())

    def stop(self, session: str) -> None:
        self.cancel_event(session).set()

    def generate(
        self, session: str, history: list[dict[str, str]], chat: ChatSettings
    ) -> Iterator[Event]:
        """Events of one reply; waits (with a notice) while another tab generates."""
        cancel = self.cancel_event(session)
        cancel.clear()
        self.wait_loaded()
        if self.engine is None:
            reason = (self.error or "").split("\n")[0]
            raise EngineError(
                f"No model is loaded ({reason})." if reason else "No model is loaded.",
                hint="Choose a model in the Models tab and load it.",
            )
        if not self._generating.acquire(blocking=False):
            yield Notice("The model is busy with another tab; waiting for it to finish.", "busy")
            while not self._generating.acquire(timeout=0.1):
                if cancel.is_set():
                    return
        try:
            yield from _generate(self.engine, chat.messages(history), chat, cancel)
        finally:
            self._generating.release()


class EventPump:
    """Runs one generation in its own thread, so the model never waits for the page.

    The engine's events go to ``on_event`` (the recorder that saves them) as they come
    and queue up for :meth:`batches`, which hands the page everything that arrived since
    its last update: however long the page takes to draw an update, decoding goes on.
    ``close`` (also on a page that went away) stops the generation and waits for it.
    """

    _END = object()

    def __init__(
        self,
        host: ModelHost,
        session: str,
        history: list[dict[str, str]],
        chat: ChatSettings,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.host = host
        self.session = session
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._on_event = on_event
        self._thread = threading.Thread(
            target=self._run, args=(history, chat), name="seedchat-generate", daemon=True
        )
        self._thread.start()

    def _run(self, history: list[dict[str, str]], chat: ChatSettings) -> None:
        try:
            for event in self.host.generate(self.session, history, chat):
                if self._on_event is not None:
                    self._on_event(event)
                self._queue.put(event)
        except BaseException as exc:  # handed to the page's thread, raised there
            self._queue.put(exc)
        finally:
            self._queue.put(self._END)

    def batches(self) -> Iterator[list[Event]]:
        """Lists of events, each everything that arrived since the last; raises what the
        generation raised."""
        while True:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events = [i for i in items if isinstance(i, Event)]
            if events:
                yield events
            for item in items:
                if isinstance(item, BaseException):
                    raise item
                if item is self._END:
                    return

    def close(self, timeout: float = 30.0) -> None:
        if self._thread.is_alive():
            self.host.stop(self.session)
            self._thread.join(timeout)


def _load_engine(
    path: Path, settings: Settings, n_gpu_layers: int | str | None, context_length: int | None
) -> Any:
    from seedchat.engine import Engine, LoadOptions

    options = LoadOptions(
        n_gpu_layers=settings.get("n_gpu_layers") if n_gpu_layers is None else n_gpu_layers,
        context_length=settings.get("context_length") if context_length is None else context_length,
        flash_attn=settings.get("flash_attn"),
        kv_cache_type=settings.get("kv_cache_type"),
        threads=settings.get("threads"),
    )
    return Engine.load(path, options)


def _generate(
    engine: Any, messages: list[dict[str, str]], chat: ChatSettings, cancel: threading.Event
) -> Iterator[Event]:
    from seedchat.engine import GenerationOptions
    from seedchat.prompt import Message

    options = GenerationOptions(
        budget=chat.budget,
        enforcement=chat.enforcement,
        temperature=chat.temperature,
        top_p=chat.top_p,
        max_tokens=chat.max_tokens,
    )
    turns = [Message(m["role"], m["content"]) for m in messages]
    yield from engine.generate(turns, options, cancel=cancel)


def _close(engine: Any) -> None:
    if engine is not None and hasattr(engine, "close"):
        try:
            engine.close()
        except Exception:  # closing must never break the app
            log.exception("closing the engine failed")
