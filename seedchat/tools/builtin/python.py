"""The built-in ``python`` tool: ``run_python(code)`` in Monty (``pydantic-monty``), a
Python interpreter written for code an AI wrote.

Why Monty: it is not CPython with the dangerous parts hidden (RestrictedPython and the like
run in seedchat's own process, and their escapes are a known genre), but an interpreter of
its own, run in a worker process the pool replaces if it dies. Inside it there is no
filesystem (``open`` and ``os.listdir`` are refused), no ``socket`` or ``subprocess``
module, no ``os.environ``; the time and the heap are limited by the interpreter itself
(``TimeoutError``, ``MemoryError``), and the parent kills a worker that outlives the time
limit by more than a grace. What is printed is capped too. Its standard library is a
subset (math, json, re, datetime, collections, itertools, functools, random, decimal,
dataclasses, typing, csv, hashlib, …; not statistics, fractions, heapq).

A call returns what was printed and the value of the last expression, or the error
(the exception's type and message, as the model can act on it).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

from seedchat.errors import SeedchatError
from seedchat.settings import Settings, load_settings
from seedchat.tools.builtin.spec import function_spec, one_argument_call
from seedchat.tools.protocol import ToolOutcome

log = logging.getLogger(__name__)

RUN_PYTHON = function_spec(
    "run_python",
    "Run Python code in a sandbox (no files, no network, no environment; a subset of the "
    "standard library: math, json, re, datetime, collections, itertools, random, decimal, …) "
    "and return what it printed and the value of its last expression. Use it to compute "
    "exactly.",
    "code",
    "the Python code to run",
)

GRACE_S = 2.0  # the parent kills a worker this long after the sandbox's own time limit


@dataclass(frozen=True)
class PythonLimits:
    """What one run may use: seconds, heap bytes, printed bytes (the settings
    ``python_time_limit``, ``python_memory_mb``, ``python_output_max_bytes``)."""

    seconds: float = 10.0
    memory_bytes: int = 256 * 1024 * 1024
    output_bytes: int = 65536

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> PythonLimits:
        settings = settings or load_settings()
        return cls(
            float(settings.get("python_time_limit")),
            int(settings.get("python_memory_mb")) * 1024 * 1024,
            int(settings.get("python_output_max_bytes")),
        )


def _monty():
    try:
        import pydantic_monty
    except ImportError as exc:  # pragma: no cover - a broken install
        raise SeedchatError(
            "The python tool needs the package pydantic-monty, which is not installed.",
            hint="Install seedchat again with its dependencies: pip install seedchat.",
        ) from exc
    return pydantic_monty


class PythonTool:
    """``run_python``: each call in a fresh sandbox session (nothing kept between calls)."""

    def __init__(self, limits: PythonLimits | None = None) -> None:
        self.limits = limits or PythonLimits.from_settings()

    def specs(self) -> list[dict[str, Any]]:
        return [RUN_PYTHON]

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        return one_argument_call(
            name, arguments, lambda code: self.run(code, cancel), "run_python", "code"
        )

    def run(self, code: str, cancel: threading.Event | None = None) -> tuple[str, bool]:
        """What ``code`` printed and its last value, or its error: (text, is_error)."""
        pm = _monty()
        limits = {
            "max_feed_duration_secs": self.limits.seconds,
            "max_memory": self.limits.memory_bytes,
        }
        printed = pm.CollectString(max_bytes=self.limits.output_bytes)
        timeout = self.limits.seconds + GRACE_S
        pool = pm.Monty(min_processes=1, max_processes=1, request_timeout=timeout)
        with pool, pool.checkout(limits=limits) as session:
            try:
                value = _feed(session, code, printed, cancel)
            except pm.MontySyntaxError as err:
                return _error(printed, f"SyntaxError: {err}"), True
            except pm.MontyRuntimeError as err:
                return _error(printed, self._runtime_error(err)), True
            except pm.MontyCrashedError as err:
                return _error(printed, self._crash(err, cancel)), True
        return _result(printed.output, value), False

    def _runtime_error(self, err: Exception) -> str:
        text = str(err).strip()
        if text.startswith("MemoryError") and f"> {self.limits.output_bytes} bytes" in text:
            text = f"OutputError: printed more than {self.limits.output_bytes} bytes (the cap)"
        elif text.startswith("MemoryError"):
            text += f" (the limit is {self.limits.memory_bytes // (1024 * 1024)} MiB)"
        elif text.startswith("TimeoutError"):
            text += f" (the limit is {self.limits.seconds:g} s)"
        return text

    def _crash(self, err: Exception, cancel: threading.Event | None) -> str:
        if cancel is not None and cancel.is_set():
            return "Cancelled: the run was stopped."
        if getattr(err, "timed_out", False):
            return f"TimeoutError: the code ran past the time limit ({self.limits.seconds:g} s)."
        log.warning("the python sandbox's worker died: %s", err)
        return f"Error: the sandbox stopped ({err})."


def _feed(session: Any, code: str, printed: Any, cancel: threading.Event | None) -> Any:
    """Run ``code``; a set ``cancel`` kills the session's worker (the pool replaces it)."""
    if cancel is None:
        return session.feed_run(code, print_callback=printed)
    pid = session.worker_pid
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            if cancel.is_set() and pid:
                os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
                return

    watcher = threading.Thread(target=watch, name="python-tool-cancel", daemon=True)
    watcher.start()
    try:
        return session.feed_run(code, print_callback=printed)
    finally:
        done.set()
        watcher.join()


def _result(printed: str, value: Any) -> str:
    parts = [printed.rstrip("\n")] if printed.strip() else []
    if value is not None:
        parts.append(repr(value))
    return "\n".join(parts) if parts else "(no output)"


def _error(printed: Any, error: str) -> str:
    out = printed.output.rstrip("\n")
    return f"{out}\n{error}" if out.strip() else error
