"""One seedchat per user: a second ``seedchat`` opens the page of the one running.

A running UI records its address in ``seedchat.ui.instance.json`` in the data directory.
Starting again first asks that address for its page: when seedchat answers there, the
new process opens the browser on it and exits instead of loading a second copy of the
model into memory. A record whose address does not answer (the app was killed) is stale
and is replaced. The check needs no process ids, so it behaves the same on every OS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from seedchat.paths import atomic_write_text, get_paths

log = logging.getLogger(__name__)

FILE_NAME = "seedchat.ui.instance.json"
PROBE_TIMEOUT = 1.5  # seconds to wait for a running instance's page
TITLE = "seedchat"  # the page's title, in its Gradio config


def instance_file() -> Path:
    return get_paths().data / FILE_NAME


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("url"), str) else None


def answers(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a seedchat page is served at ``url`` (only loopback addresses are asked)."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        return False
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=timeout) as response:
            config = json.loads(response.read(4 * 2**20))
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return isinstance(config, dict) and config.get("title") == TITLE


def running_instance() -> str | None:
    """The address of a seedchat UI already running for this user, else None."""
    path = instance_file()
    data = _read(path)
    if data is None:
        return None
    if answers(data["url"]):
        return data["url"]
    log.info("removing the stale instance record %s (%s does not answer)", path, data["url"])
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def claim(url: str) -> None:
    """Record that this process serves the UI at ``url`` (best effort)."""
    record = {"url": url, "pid": os.getpid(), "started": time.time()}
    try:
        get_paths().data.mkdir(parents=True, exist_ok=True)
        atomic_write_text(instance_file(), json.dumps(record) + "\n")
    except OSError as exc:
        log.warning("could not record the running instance: %s", exc)


def release(url: str) -> None:
    """Remove the record if it is still this process's."""
    path = instance_file()
    data = _read(path)
    if data is not None and data.get("url") == url and data.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()
