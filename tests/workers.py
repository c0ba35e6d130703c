"""The README's test command runs on two pytest-xdist workers; what keeps that fast and
steady on a 2-core machine:

- the modules that drive the page in Chromium run one after another on one worker
  (``gw0``), first (:class:`PageScheduling`), while the other worker takes the other
  modules, each whole: two pages streaming at once on two cores made each too slow for
  its waits;
- the page's worker may use every core at the usual priority; the other runs, with all it
  starts (llama.cpp's threads, `seedchat` commands), on a core of its own at the lowest
  priority (``pin_worker``): it takes the time the page's tests leave. llama.cpp's threads
  spin while they wait for one another, so two workers' threads on the same cores made
  each generation several times slower (test_lookup.py: 48 s → 370 s); a model loaded
  with ``threads = 0`` takes one thread per core of its worker. Chromium may use every
  core (``every_core``) whichever worker starts it.

The workers collect the tests and know which modules use the browser; the controller that
hands the modules out sees only test ids, so each worker writes the page modules (the same
list) to a file of the run (``note_page_modules``) that the controller reads when it
schedules.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

#: the cores the run may use, before a worker takes one of its own
ALL_CORES = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
PAGE = "page"  # the scope of every module that drives the page
PAGE_WORKER = "gw0"  # the worker that runs them


def pin_worker() -> None:
    """Under pytest-xdist: the page's worker (``gw0``) may use every core at the usual
    priority; any other worker runs on a core of its own at the lowest priority, so it
    takes the time the page's tests leave (they wait on Chromium and the page often) and
    never slows what a page test waits for."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker is None or worker == PAGE_WORKER or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= workers:
        os.sched_setaffinity(0, cores[int(worker.removeprefix("gw")) :: workers])
    os.nice(19)


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
    pages = {
        module
        for module, tests in modules.items()
        if any("browser" in getattr(item, "fixturenames", ()) for item in tests)
    }
    items[:] = [item for m in sorted(modules, key=lambda m: m not in pages) for item in modules[m]]
    path = _pages_file(os.getppid())
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_text(json.dumps(sorted(pages)), encoding="utf-8")
    partial.replace(path)  # both workers write the same list: whichever lands is whole


class PageScheduling(LoadFileScheduling):
    """pytest-xdist's ``loadfile`` (a module whole on one worker), with every module that
    drives the page in one scope, given to the page's worker first; the others in the
    workers' order."""

    _pages: frozenset[str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._pages is None:  # asked once every worker has collected (and written)
            path = _pages_file(os.getpid())
            self._pages = frozenset(json.loads(path.read_text(encoding="utf-8")))
            path.unlink(missing_ok=True)
        module = module_of(nodeid)
        return PAGE if module in self._pages else module

    def _assign_work_unit(self, node: Any) -> None:
        queue = self.workqueue
        if PAGE in queue and node.gateway.id == PAGE_WORKER:
            queue.move_to_end(PAGE, last=False)
        elif PAGE in queue and len(queue) > 1:  # another worker: the next other module
            other = next(scope for scope in queue if scope != PAGE)
            queue.move_to_end(other, last=False)
        super()._assign_work_unit(node)
