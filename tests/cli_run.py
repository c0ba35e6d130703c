"""The real `seedchat` command, run as a user runs it (a subprocess of this Python)."""

import subprocess
import sys


def run_python(*lines: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``lines`` as a script of this Python in a process of its own (its own imports)."""
    return subprocess.run(
        [sys.executable, "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seedchat", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
