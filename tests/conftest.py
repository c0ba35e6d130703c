"""Shared fixtures: every test runs against a temporary seedchat home; what is costly to make
and safe to share is made once for the session.

- ``demo_host``: the bundled demo model (4,096 tokens, CPU) in a host shared by the tests
  that ask it for replies; a test that loads another model, unloads it or changes its
  settings needs a host of its own (checked after each test);
- ``demo_server``: seedchat's API (no key) on ``demo_host``; ``seedchat_server``: the same
  host behind an API with a key, as a remote server (a ``RemoteServer`` and the host);
- ``long_model``: a generated Seed-OSS-shaped GGUF trained for a 131,072-token context.

The browser fixtures (one Chromium, the app, pages) are in tests/browser.py.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO_CONTEXT = 4096
DEMO_API_KEY = "k3y"
#: the cores the run may use, before a pytest-xdist worker takes one of its own
ALL_CORES = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()

# The browser tests' fixtures (Chromium, a running app, pages), for any test that asks.
pytest_plugins = ["tests.browser"]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (the README's command: two workers) each worker, and all it
    starts (llama.cpp's threads, `seedchat` commands, Chromium), runs on cores of its own:
    llama.cpp's threads spin while they wait for one another, so two workers' threads on
    the same cores made each generation several times slower (test_lookup.py: 48 s → 370 s).
    A model loaded with ``threads = 0`` then takes one thread per core of its worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker is None or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= workers:
        os.sched_setaffinity(0, cores[int(worker.removeprefix("gw")) :: workers])


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist the modules that drive the page in Chromium run one after another
    on one worker, first, while the other worker takes the other modules: two pages
    streaming at once on two cores made each too slow for its waits. A module stays whole
    on one worker (its tests may build on one another's app) and keeps its order;
    pyproject.toml's ``--dist loadgroup --no-loadscope-reorder`` reads the groups."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    pages = {
        module
        for module, tests in modules.items()
        if any("browser" in getattr(item, "fixturenames", ()) for item in tests)
    }
    for module, tests in modules.items():
        for item in tests:
            item.add_marker(pytest.mark.xdist_group("page" if module in pages else module))
    items[:] = [
        item for module in sorted(modules, key=lambda m: m not in pages) for item in modules[module]
    ]


@contextlib.contextmanager
def every_core() -> Iterator[None]:
    """What starts inside may run on every core of the machine (Chromium: it draws the
    page while the worker's model writes it); the worker keeps its own core."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, ALL_CORES)
    try:
        yield
    finally:
        os.sched_setaffinity(0, own)


@pytest.fixture(autouse=True)
def seedchat_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point SEEDCHAT_HOME at a fresh temporary directory for each test."""
    home = tmp_path_factory.mktemp("seedchat-home")
    monkeypatch.setenv("SEEDCHAT_HOME", str(home))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SEEDCHAT_FAKE_GPUS", raising=False)
    return home


@pytest.fixture
def cli_env(seedchat_home: Path) -> dict[str, str]:
    """Environment for running the real `seedchat` command in a subprocess."""
    env = dict(os.environ)
    env["SEEDCHAT_HOME"] = str(seedchat_home)
    env.pop("SEEDCHAT_FAKE_GPUS", None)
    return env


# -- the demo model, shared ------------------------------------------------------------------


@pytest.fixture(scope="session")
def _demo_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from seedchat.engine.host import ModelHost
    from seedchat.models import demo_model
    from seedchat.settings import load_settings

    path = demo_model()
    assert path is not None, "the demo model is missing: run packaging/demo_model/build.py"
    # settings of its own (defaults): not those of whatever home the session started in
    settings = load_settings(tmp_path_factory.mktemp("demo-host") / "settings.json")
    host = ModelHost(settings, max_waiting=16)
    host.load(path, remember=False, n_gpu_layers=0, context_length=DEMO_CONTEXT)
    yield host
    host.unload()


@pytest.fixture
def demo_host(_demo_host) -> Iterator:
    """The demo model's host, shared by the session; left as the test found it."""
    host = _demo_host
    engine, settings = host.engine, dict(host.settings.values)
    yield host
    deadline = time.monotonic() + 30  # a reply whose client went away is still stopping
    while host.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    changed = [
        what
        for what, same in (
            ("still busy or with callers waiting", not host.busy and host.turns.waiting == 0),
            ("loaded another model or unloaded it", host.engine is engine),
            ("changed its settings", host.settings.values == settings),
        )
        if not same
    ]
    engine._script = None  # a scripted reply a failed test did not use
    assert not changed, (
        f"a test {' and '.join(changed)} of the shared demo host: give it a host of its own"
    )


@pytest.fixture(scope="session")
def _demo_servers(_demo_host) -> Iterator[tuple]:
    from ports import worker_port

    from seedchat.api.app import create_app
    from seedchat.api.calls import ApiOptions
    from seedchat.api.serve import ApiServer
    from seedchat.network import find_free_port

    servers = []
    for start, options in ((18080, None), (18750, ApiOptions(api_key=DEMO_API_KEY))):
        port = find_free_port("127.0.0.1", worker_port(start))
        servers.append(ApiServer(create_app(_demo_host, options), "127.0.0.1", port))
        servers[-1].start()
    yield tuple(servers)
    for server in servers:
        server.close()


@pytest.fixture
def demo_server(_demo_servers, demo_host):
    """seedchat's API (OpenAI's /v1 and Ollama's /api, no key) on ``demo_host``."""
    return _demo_servers[0]


@pytest.fixture
def seedchat_server(_demo_servers, demo_host) -> tuple:
    """seedchat's API with a key on ``demo_host``, as a remote server: (server, host)."""
    from seedchat.engine.remote_servers import RemoteServer

    url = _demo_servers[1].url.rstrip("/") + "/v1"
    return RemoteServer(url, DEMO_API_KEY, "seedchat-box"), demo_host


# -- the long-context model ------------------------------------------------------------------


@pytest.fixture(scope="session")
def long_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Seed-OSS-shaped model trained for a 131,072-token context (GGUF, F16), made and
    converted once for the run; the tests only read it. Under pytest-xdist the first worker
    that asks makes it in the run's shared temporary folder while the others wait for it."""
    from filelock import FileLock
    from tiny_checkpoints import make_long_model

    if "PYTEST_XDIST_WORKER" not in os.environ:
        return make_long_model(tmp_path_factory.mktemp("long"))
    shared = tmp_path_factory.getbasetemp().parent / "long"
    made = shared / "made.txt"  # written once the model is whole
    with FileLock(f"{shared}.lock"):
        if not made.exists():
            made.parent.mkdir(exist_ok=True)
            made.write_text(str(make_long_model(shared)), encoding="utf-8")
    return Path(made.read_text(encoding="utf-8"))
