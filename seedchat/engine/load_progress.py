"""Progress and cancel of a model load, through llama.cpp's progress callback.

llama.cpp calls ``llama_model_params.progress_callback`` (``bool (*)(float, void *)``)
with the share of the weights loaded so far, 0 to 1; returning false stops the load and
``llama_model_load_from_file`` returns NULL. :class:`LoadWatch` wraps a plain Python
function as that callback for one load, keeps it alive while llama.cpp holds it, and
remembers why a load stopped, so the engine can say "cancelled" (:class:`LoadCancelled`)
instead of blaming the file::

    watch = LoadWatch(llama, progress)     # progress(share) -> False cancels
    watch.attach(mparams)
    model = llama.llama_model_load_from_file(path, mparams)
    if not model:
        watch.raise_if_stopped(path.name)  # LoadCancelled, or the Ctrl+C that stopped it
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from typing import Any

from seedchat.errors import EngineError

log = logging.getLogger(__name__)

#: Told the share of the model loaded (0 to 1); returning False cancels the load.
LoadProgressFn = Callable[[float], "bool | None"]


class LoadCancelled(EngineError):
    """A model load was cancelled by the user (not a problem with the file)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Loading {name} was cancelled.",
            hint="Load it again when you want it (the Models tab, or 'seedchat chat -m').",
        )


class LoadWatch:
    """llama.cpp's progress callback for one load."""

    def __init__(self, llama: Any, progress: LoadProgressFn | None) -> None:
        self.progress = progress
        self.cancelled = False
        self.interrupted: BaseException | None = None  # a Ctrl+C while llama.cpp loaded
        self.last = 0.0
        # the ctypes function must outlive the load: llama.cpp keeps a raw pointer to it
        self._callback = llama.llama_progress_callback(self._on_progress) if progress else None

    def attach(self, mparams: Any) -> None:
        if self._callback is not None:
            mparams.progress_callback = self._callback

    def _on_progress(self, value: float, _user_data: ctypes.c_void_p) -> bool:
        self.last = min(1.0, max(0.0, float(value)))
        try:
            go_on = self.progress(self.last) is not False
        except Exception:  # a broken progress bar must not stop the load
            log.exception("the load progress callback failed")
            go_on = True
        except BaseException as exc:  # KeyboardInterrupt: stop the load, raise it after
            self.interrupted = exc
            go_on = False
        if not go_on:
            self.cancelled = True
        return go_on

    def raise_if_stopped(self, name: str) -> None:
        """After a NULL model: raise why the load stopped, if it was stopped here."""
        if self.interrupted is not None:
            raise self.interrupted
        if self.cancelled:
            raise LoadCancelled(name)
