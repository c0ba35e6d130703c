"""The real MCP servers the tests run, installed by ``packaging/install.sh --dev`` outside
seedchat's environment: ``mcp-server-time`` (PyPI) in ``.venv-tools`` and
``@modelcontextprotocol/server-everything`` (npm) in ``.tools``. A missing one fails the
test with what to run — never a skip, so CI cannot pass without them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from seedchat.tools.config import ServerEntry, ToolsConfig

REPO = Path(__file__).resolve().parents[1]
TOOLS_VENV = Path(os.environ.get("SEEDCHAT_TOOLS_VENV", REPO / ".venv-tools"))
TOOLS_NODE = Path(os.environ.get("SEEDCHAT_TOOLS_NODE", REPO / ".tools"))
BIN = "Scripts" if sys.platform == "win32" else "bin"
TEST_SERVER = Path(__file__).with_name("mcp_test_server.py")
INSTALL = "run 'bash packaging/install.sh --dev' (it installs the MCP servers the tests use)"


def time_server() -> Path:
    path = TOOLS_VENV / BIN / ("mcp-server-time" + (".exe" if sys.platform == "win32" else ""))
    if not path.exists():
        pytest.fail(f"mcp-server-time is not installed at {path}: {INSTALL}.")
    return path


def everything_server() -> Path:
    path = TOOLS_NODE / "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    if not path.exists():
        pytest.fail(f"@modelcontextprotocol/server-everything is not at {path}: {INSTALL}.")
    return path


def time_entry(name: str = "time", command: Path | None = None) -> ServerEntry:
    command = command or time_server()
    return ServerEntry(name, command=str(command), args=("--local-timezone", "UTC"))


def own_copy(path: Path, folder: Path) -> Path:
    """A copy of a server's script in ``folder`` (the test's own): :func:`running` then
    finds the processes of this test alone, not those of a test on another pytest-xdist
    worker that runs the same server."""
    copy = folder / path.name
    shutil.copy2(path, copy)
    return copy


#: where the pinned clock stands in the tests of the demo model answering by itself
PINNED_AT = "2026-12-02T03:07:31+00:00"


PINNED_SERVER = Path(__file__).with_name("pinned_clock_time_server.py")


def pinned_time_entry(at: str, name: str = "time", script: Path = PINNED_SERVER) -> ServerEntry:
    """The real mcp-server-time whose clock stands at ``at`` (ISO 8601 with an offset)."""
    python = time_server().with_name("python" + (".exe" if sys.platform == "win32" else ""))
    return ServerEntry(name, command=str(python), args=(str(script), at, "--local-timezone", "UTC"))


def everything_entry(name: str = "everything", **values) -> ServerEntry:
    return ServerEntry(name, command="node", args=(str(everything_server()), "stdio"), **values)


def script_entry(name: str = "test", **values) -> ServerEntry:
    return ServerEntry(name, command=sys.executable, args=(str(TEST_SERVER),), **values)


def config_with(tmp_path: Path, *entries: ServerEntry) -> ToolsConfig:
    config = ToolsConfig(path=tmp_path / "mcp.json")
    for entry in entries:
        config.add(entry)
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_everything_http() -> Iterator[str]:
    """server-everything over Streamable HTTP on a free port; yields its URL."""
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    proc = subprocess.Popen(
        ["node", str(everything_server()), "streamableHttp"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("server-everything did not start over Streamable HTTP")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def descendants() -> list[psutil.Process]:
    """This test process's living descendants (zombies count as gone)."""
    alive = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def running(name: str) -> list[psutil.Process]:
    """The processes on this machine whose command line holds ``name``."""
    return [
        p for p in psutil.process_iter(["cmdline"]) if name in " ".join(p.info["cmdline"] or [])
    ]
