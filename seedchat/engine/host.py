"""The model host: the one loaded model of a running app, shared by every front end in it.

:class:`ModelHost` loads a model (the last used one, else the bundled demo), swaps it for
another, unloads it, and runs one generation at a time for everyone who uses it (the
page's tabs; later the API): a second caller that asks while the model is busy gets a
:class:`~seedchat.events.Notice` and waits its turn. It speaks the same two calls as an
:class:`~seedchat.engine.local.Engine` (``generate`` and ``render``), so a
:class:`~seedchat.chat.session.ChatSession` runs on either.

:class:`NoModelLoaded` is what a caller gets when there is no model to answer with.

Two questions every front end asks of its model, answered here once: is it a model on this
machine (:func:`local_engine`: the llama.cpp engine, or None for a model on a server or
none), and how many tokens is a text for it (:func:`count_text`: its tokenizer, else an
estimate of :data:`~seedchat.seed.prompt_tokens.CHARS_PER_TOKEN` characters a token)?
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from seedchat.engine.load_progress import LoadCancelled, LoadProgressFn
from seedchat.engine.local import Engine
from seedchat.engine.remote import RemoteEngine
from seedchat.engine.remote_servers import RemoteServer
from seedchat.errors import EngineError, SeedchatError
from seedchat.events import Event, Notice
from seedchat.models import ModelInfo, demo_model, read_gguf_info
from seedchat.seed.prompt_tokens import estimate_tokens
from seedchat.seed.template import Message
from seedchat.settings import GenerationOptions, LoadOptions, Settings

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]


def local_engine(engine: object, templated: bool = False) -> Engine | None:
    """The model on this machine behind ``engine`` (an :class:`Engine`, or a
    :class:`ModelHost` or wrapper holding one in ``.engine``); None for a model on a server
    or none loaded (``templated``: also for a model without a chat template)."""
    for candidate in (engine, getattr(engine, "engine", None)):
        if isinstance(candidate, Engine):
            return None if templated and candidate.template is None else candidate
    return None


def count_text(engine: object) -> TokenCounter:
    """Counts a text's tokens (plain text: no control tokens) with the tokenizer of the
    model on this machine behind ``engine``, else estimates them (:func:`estimate_tokens`)."""
    local = local_engine(engine)
    if local is None:
        return estimate_tokens
    return lambda text: len(local.tokenize(text, parse_special=False))


def initial_model(settings: Settings) -> Path | None:
    """The model to load at start: the last used one if it still exists, else the demo."""
    last = settings.get("model")
    if last and Path(last).is_file():
        return Path(last)
    return demo_model()


class NoModelLoaded(EngineError):
    """There is no model to answer with (none chosen, or its load failed)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(
            f"No model is loaded ({reason})." if reason else "No model is loaded.",
            hint="Choose a model in the Models tab and load it.",
        )


class ModelBusy(EngineError):
    """Too many requests are already waiting for the model."""

    def __init__(self, waiting: int) -> None:
        super().__init__(
            f"The model is busy: {waiting} requests are already waiting for it.",
            hint="Try again in a few seconds.",
        )
        self.waiting = waiting


class TurnQueue:
    """One holder at a time; the others wait in a bounded first-come, first-served queue.

    ``enter`` returns at once with the turn (None) or with the place in the queue to
    ``wait`` on; past ``max_waiting`` waiters it raises :class:`ModelBusy`. A waiter that
    gives up (its cancel flag) leaves the queue, or passes the turn on if it was given it.
    """

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()
        # what each holds the turn for: "reply", "hold" (a model swap), "count" (a moment
        # to count tokens, which a waiting reply does not need to be told about)
        self._kind: str | None = None
        self._kinds: dict[threading.Event, str] = {}

    def enter(self, bounded: bool = True, kind: str = "reply") -> threading.Event | None:
        with self._lock:
            if not self._held and not self._waiters:
                self._held, self._kind = True, kind
                return None
            if bounded and len(self._waiters) >= self.max_waiting:
                raise ModelBusy(len(self._waiters))
            place = threading.Event()
            self._waiters.append(place)
            self._kinds[place] = kind
            return place

    def only_counts_ahead(self, place: threading.Event) -> bool:
        """Whether everything ahead of ``place`` in the queue only counts tokens."""
        with self._lock:
            ahead = [self._kind]
            for waiter in self._waiters:
                if waiter is place:
                    break
                ahead.append(self._kinds.get(waiter))
            return all(kind == "count" for kind in ahead)

    def wait(self, place: threading.Event | None, cancel: threading.Event | None = None) -> bool:
        """Wait for the turn; False when ``cancel`` was set first (the queue is left)."""
        if place is None:
            return True
        while not place.wait(0.05):
            if cancel is not None and cancel.is_set():
                self.give_up(place)
                return False
        return True

    def give_up(self, place: threading.Event | None) -> None:
        """Leave the queue (or, if the turn came meanwhile, pass it on)."""
        if place is None:
            return
        with self._lock:
            if not place.is_set():
                self._waiters.remove(place)
                self._kinds.pop(place, None)
                return
        self.leave()

    def leave(self) -> None:
        with self._lock:
            if self._waiters:
                place = self._waiters.popleft()
                self._kind = self._kinds.pop(place, "reply")
                place.set()  # handed straight to the next in line
            else:
                self._held, self._kind = False, None

    @contextlib.contextmanager
    def held(self, kind: str = "hold") -> Iterator[None]:
        """Hold the turn for a block (a model swap waits for the running generation);
        ``kind`` "count" for a moment's token count."""
        self.wait(self.enter(bounded=False, kind=kind))
        try:
            yield
        finally:
            self.leave()

    @property
    def busy(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        return len(self._waiters)


class ModelHost:
    """The engine shared by every front end of one process."""

    #: Requests that may wait for the model before the next one is refused (ModelBusy).
    MAX_WAITING = 32

    def __init__(self, settings: Settings, max_waiting: int = MAX_WAITING) -> None:
        self.settings = settings
        self.engine: Engine | RemoteEngine | None = None
        self.info: ModelInfo | None = None  # the loaded GGUF's metadata (None for a remote)
        self.error: str | None = None
        self.loading: Path | str | None = None  # a file, or a remote model, on its way
        self.load_progress: float | None = None  # share of the file loaded, while it loads
        self._state = threading.Lock()
        self.turns = TurnQueue(max_waiting)
        self.loads = 0  # models loaded by this host (each front end shares them)
        self._loaded = threading.Event()
        self._cancels: dict[str, threading.Event] = {}
        self._cancel_load = threading.Event()

    # -- loading -------------------------------------------------------------------

    def load(
        self,
        path: Path | str,
        remember: bool = True,
        n_gpu_layers: int | str | None = None,
        context_length: int | None = None,
        progress: LoadProgressFn | None = None,
        options: LoadOptions | None = None,
        **load: object,
    ) -> ModelInfo:
        """Load the model at ``path`` (replacing the current one); raises SeedchatError.

        ``n_gpu_layers`` ("auto" or a number) and ``context_length`` override the settings,
        and so do ``load``'s other :class:`LoadOptions` fields (a context plan's KV type);
        ``options`` replaces them all (a context plan's, :meth:`ContextPlan.load_options`).
        ``progress`` is told the share loaded (also in ``load_progress``); a load stopped
        by :meth:`cancel_load` raises LoadCancelled and keeps the model loaded before.
        """
        path = Path(path).expanduser()
        self._set_state(loading=path, error=None, load_progress=0.0)
        self._loaded.clear()
        try:
            info = read_gguf_info(path, source="demo" if path == demo_model() else "added")
            options = options or LoadOptions.from_settings(
                self.settings, n_gpu_layers=n_gpu_layers, context_length=context_length, **load
            )
            engine = Engine.load(path, options, progress=self._progress(progress))
            if self._cancel_load.is_set():  # cancelled after the weights, while the context came
                _close(engine)
                raise LoadCancelled(path.name)
        except LoadCancelled:
            log.info("loading %s was cancelled", path.name)
            self._cancel_load.clear()
            self._set_state(loading=None, load_progress=None)
            self._loaded.set()
            raise
        except SeedchatError as err:
            self._failed(str(err))
            raise
        except Exception as exc:  # llama.cpp can fail in ways of its own
            log.exception("loading %s failed", path)
            err = EngineError(f"Could not load {path.name}: {exc}")
            self._failed(str(err))
            raise err from exc
        with self.turns.held():  # never swap the engine under a running generation
            old, self.engine, self.info = self.engine, engine, info
        self._cancel_load.clear()
        self._set_state(loading=None, load_progress=None)
        self.loads += 1
        log.info("loaded %s (load %d of this app)", path.name, self.loads)
        self._loaded.set()
        _close(old)
        if remember:
            self._remember(path)
        return info

    def _progress(self, observer: LoadProgressFn | None) -> LoadProgressFn:
        def on_progress(share: float) -> bool:
            self.load_progress = share
            if observer is not None and observer(share) is False:
                self._cancel_load.set()
            return not self._cancel_load.is_set()

        return on_progress

    @property
    def load_cancellable(self) -> bool:
        """A model file is loading and no cancel of it was asked yet (once asked, llama.cpp
        stops at its next progress report)."""
        return isinstance(self.loading, Path) and not self._cancel_load.is_set()

    def cancel_load(self) -> bool:
        """Stop the model file being loaded (True when one was loading)."""
        if not isinstance(self.loading, Path):
            return False
        self._cancel_load.set()
        return True

    def connect(self, server: RemoteServer, model: str | None = None) -> RemoteEngine:
        """Use ``model`` (the first when None) on an OpenAI-compatible server in place of a
        local one; raises EngineError when the server cannot be used."""
        label = f"{model or 'a model'} on {server.label}"
        self._set_state(loading=label, error=None)
        self._loaded.clear()
        try:
            engine = RemoteEngine.connect(server, model)
        except SeedchatError as err:
            self._failed(str(err))
            raise
        with self.turns.held():
            old, self.engine, self.info = self.engine, engine, None
        self._set_state(loading=None)
        log.info("using %s", engine.model_name)
        self._loaded.set()
        _close(old)
        return engine

    def connect_in_background(self, server: RemoteServer, model: str | None = None) -> None:
        def run() -> None:
            try:
                self.connect(server, model)
            except SeedchatError as err:
                log.warning("%s", err)

        threading.Thread(target=run, name="seedchat-connect", daemon=True).start()

    def _set_state(self, **values: object) -> None:
        with self._state:
            for key, value in values.items():
                setattr(self, key, value)

    def _failed(self, error: str) -> None:
        self._cancel_load.clear()
        self._set_state(loading=None, error=error, load_progress=None)
        self._loaded.set()

    def _remember(self, path: Path) -> None:
        try:
            self.settings.set("model", str(path))
            self.settings.save()
        except (SeedchatError, OSError) as exc:
            log.warning("could not remember the model: %s", exc)

    def will_load(self, path: Path | str | None) -> None:
        """Say (in ``loading``) that ``path`` (or a remote model) is about to load."""
        if path is not None:
            self._set_state(loading=path)

    def load_in_background(self, path: Path | None) -> None:
        if path is None:
            self._failed("No model yet: choose one in the Models tab.")
            return

        def run() -> None:
            try:
                self.load(path, remember=False)
            except SeedchatError as err:
                log.warning("%s", err)

        threading.Thread(target=run, name="seedchat-load", daemon=True).start()

    def unload(self) -> None:
        with self.turns.held():
            old, self.engine, self.info = self.engine, None, None
        _close(old)

    def plan_text(self) -> str:
        """The offload plan of the loaded model, in words ("" when none or a remote one)."""
        engine, info = local_engine(self), self.info
        if engine is None or info is None:
            return ""
        return engine.plan.explain(info.block_count or 0)

    def wait_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    @property
    def remote(self) -> RemoteEngine | None:
        engine = self.engine
        return engine if isinstance(engine, RemoteEngine) else None

    @property
    def model_name(self) -> str | None:
        """What a saved answer records as its model: the GGUF's file name, or the remote
        model and its server."""
        remote, info = self.remote, self.info
        if remote is not None:
            return remote.model_name
        return info.path.name if info is not None else None

    @property
    def model_id(self) -> str | None:
        """The model's id as an API names it: the GGUF's name without ``.gguf``, or the
        server's id for it."""
        remote, info = self.remote, self.info
        if remote is not None:
            return remote.model.id
        return info.path.stem if info is not None else None

    @property
    def display_name(self) -> str | None:
        remote, info = self.remote, self.info
        if remote is not None:
            return f"{remote.model.id} on {remote.server.label}"
        return info.display_name if info is not None else None

    @property
    def busy(self) -> bool:
        return self.turns.busy

    # -- generating ----------------------------------------------------------------

    def cancel_event(self, key: str) -> threading.Event:
        """The cancel flag of one caller (a page's tab), the same object every time."""
        with self._state:
            return self._cancels.setdefault(key, threading.Event())

    def stop(self, key: str) -> None:
        self.cancel_event(key).set()

    def _engine_or_raise(self) -> Engine | RemoteEngine:
        self.wait_loaded()
        engine = self.engine
        if engine is None:
            raise NoModelLoaded((self.error or "").split("\n")[0] or None)
        return engine

    def render(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        """The prompt the loaded model's template makes of ``messages``."""
        return self._engine_or_raise().render(messages, options)

    def generate(
        self,
        messages: Sequence[Message] | str,
        options: GenerationOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Events of one reply; waits its turn (with a notice) while others generate.
        Raises :class:`ModelBusy` at once when too many are already waiting."""
        self._engine_or_raise()
        place = self.turns.enter()
        if place is not None:
            try:
                if not self.turns.only_counts_ahead(place):  # a count is a moment: unsaid
                    yield Notice(
                        "The model is busy with another chat; waiting for its turn.", "busy"
                    )
            except GeneratorExit:  # the reader went away while waiting
                self.turns.give_up(place)
                raise
            if not self.turns.wait(place, cancel):
                return
        try:
            engine = self._engine_or_raise()  # it may have been swapped while we waited
            yield from engine.generate(messages, options, cancel)
        finally:
            self.turns.leave()


def _close(engine: Engine | RemoteEngine | None) -> None:
    if engine is not None:
        try:
            engine.close()
        except Exception:  # closing must never break the app
            log.exception("closing the engine failed")
