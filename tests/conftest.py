"""Shared fixtures: every test runs against a temporary seedchat home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The browser tests' fixtures (a running app, Chromium, pages), for any test that asks.
pytest_plugins = ["tests.browser"]


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
