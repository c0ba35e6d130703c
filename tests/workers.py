"""The README's test command runs on two pytest-xdist workers; what keeps that fast and
steady on a 2-core machine:

- each worker, and what it starts (llama.cpp's threads, `seedchat` commands), runs on a
  core of its own (``pin_worker``): llama.cpp's threads spin while they wait for one
  another, so two workers' threads on the same cores made each generation several times
  slower (test_lookup.py: 48 s → 370 s). A model loaded with ``threads = 0`` then takes
  one thread per core of its worker. Chromium may use every core (``every_core``): it
  draws the page while the worker's model writes it;
- the modules that drive the page in Chromium run one after another on one worker, first
  (:class:`PageScheduling`), while the other worker takes the other modules, each whole:
  two pages streaming at once on two cores made each too slow for its waits.

The workers collect the tests and know which modules use the browser; the controller that
hands the modules out sees only test ids, so the first worker writes the page modules to a
file of the run (``note_page_modules``) that the controller reads when it schedules.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from xdist.scheduler import LoadFileScheduling

#: the cores the run may use, before a worker takes one of its own
ALL_CORES = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
PAGE = "page"  # the scope of every module that drives the page


def pin_worker() -> None:
    """Under pytest-xdist: this worker on a core of its own (when there are enough)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker is None or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= workers:
        os.sched_setaffinity(0, cores[int(worker.removeprefix("gw")) :: workers])


@contextlib.contextmanager
def every_core() -> Iterator[None]:
    """What starts inside may run on every core of the machine; the worker keeps its own."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, ALL_CORES)
    try:
        yield
    finally:
        os.sched_setaffinity(0, own)


def _pages_file(controller: int) -> Path:
    """The run's list of page modules, named by the controller's process id (the
    workers' parent)."""
    return Path(tempfile.gettempdir()) / f"seedchat-page-modules-{controller}.json"


def module_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def note_page_modules(items: list[pytest.Item]) -> None:
    """On a worker: the modules with a test that uses the browser first (each module's
    order kept), and their names written for the controller."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(module_of(item.nodeid), []).append(item)
    pages = sorted(
        module
        for module, tests in modules.items()
        if any("browser" in getattr(item, "fixturenames", ()) for item in tests)
    )
    items[:] = [item for m in sorted(modules, key=lambda m: m not in pages) for item in modules[m]]
    path = _pages_file(os.getppid())
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_text(json.dumps(pages), encoding="utf-8")
    partial.replace(path)  # both workers write the same list: whichever lands is whole


class PageScheduling(LoadFileScheduling):
    """pytest-xdist's ``loadfile`` (a module whole on one worker), with every module that
    drives the page in one scope; scopes go out in the workers' order (page first)."""

    _pages: frozenset[str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._pages is None:  # asked once every worker has collected (and written)
            path = _pages_file(os.getpid())
            self._pages = frozenset(json.loads(path.read_text(encoding="utf-8")))
            path.unlink(missing_ok=True)
        module = module_of(nodeid)
        return PAGE if module in self._pages else module
