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

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workers import PageScheduling, note_page_modules, pin_worker

REPO = Path(__file__).resolve().parents[1]
DEMO_CONTEXT = 4096
DEMO_API_KEY = "k3y"

# The browser tests' fixtures (Chromium, a running app, pages), for any test that asks.
pytest_plugins = ["tests.browser"]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (the README's command: two workers) each worker on a core of its
    own (tests/workers.py)."""
    pin_worker()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if "PYTEST_XDIST_WORKER" in os.environ:
        note_page_modules(items)  # the page's modules first, for the controller


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Every module that drives the page on one worker, one after another (tests/workers.py)."""
    return PageScheduling(config, log) if config.getvalue("dist") == "loadfile" else None


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
