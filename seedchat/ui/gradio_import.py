"""Import gradio quietly and faster: call :func:`prepare` before the first ``import gradio``.

- Analytics, telemetry and version checks are switched off: nothing leaves the machine.
- Gradio's component metaclass regenerates a ``.pyi`` type stub for every component each
  time gradio is imported (``gradio.component_meta.create_or_modify_pyi``), and writes
  it next to the component's source when it differs: it parses each component's module
  with ``ast``, about half of ``import gradio`` (1.3 s of 2.8 s on a 2-core machine), for
  stubs only an IDE reads, in a package folder an installed app should not write to. :func:`prepare` installs an
  import hook that replaces that one step with a no-op when ``gradio.component_meta`` is
  loaded. If a gradio version loads the module some other way, or no longer has that
  function, nothing is changed and gradio works as it always does, only slower.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

TARGET = "gradio.component_meta"
STUB_WRITER = "create_or_modify_pyi"


def _no_stubs(*args: Any, **kwargs: Any) -> None:
    """Stands in for gradio's .pyi writer: the app needs no type stubs."""


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        if callable(getattr(module, STUB_WRITER, None)):
            setattr(module, STUB_WRITER, _no_stubs)
            log.debug("gradio's .pyi stub writer is off")

    def __getattr__(self, name: str) -> Any:  # get_source, get_code, is_package, …
        return getattr(self.inner, name)


class _SkipStubs(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None  # found some other way (a frozen bundle): leave it to the others
        spec.loader = _Loader(spec.loader)
        return spec


def prepare() -> None:
    """Settings and the import hook; idempotent, and harmless once gradio is imported."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TELEMETRY_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if TARGET in sys.modules or any(isinstance(f, _SkipStubs) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _SkipStubs())
