"""The real `seedchat` command, run as a user runs it (a subprocess of this Python)."""

import subprocess
import sys


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seedchat", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
