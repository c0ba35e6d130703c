"""The built-in python tool: Monty's sandbox, its limits and its errors (a real worker)."""

from __future__ import annotations

import threading
import time

import pytest

from seedchat.tools.builtin.python import PythonLimits, PythonTool

LIMITS = PythonLimits(seconds=2.0, memory_bytes=64 * 1024 * 1024, output_bytes=4096)


@pytest.fixture(scope="module")
def tool() -> PythonTool:
    return PythonTool(LIMITS)


def run(tool: PythonTool, code: str) -> tuple[str, bool, float]:
    started = time.monotonic()
    outcome = tool.call("run_python", {"code": code}, threading.Event())
    return outcome.text, outcome.is_error, time.monotonic() - started


def test_it_prints_exact_big_integers(tool):
    assert run(tool, "print(2**100)")[:2] == ("1267650600228229401496703205376", False)


def test_the_last_expression_is_returned_after_what_was_printed(tool):
    text, is_error, _ = run(tool, "import math\nprint('hi')\nmath.factorial(20)")
    assert (text, is_error) == ("hi\n2432902008176640000", False)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("open('/etc/passwd').read()", "PermissionError"),
        ("import socket\nsocket.socket()", "ModuleNotFoundError: No module named 'socket'"),
        ("import os\nos.listdir('/')", "PermissionError"),
        ("import os\nos.environ['HOME']", "not supported"),
        ("import subprocess", "ModuleNotFoundError"),
    ],
)
def test_files_network_and_environment_are_out_of_reach(tool, code, error):
    text, is_error, seconds = run(tool, code)
    assert is_error and error in text and "root:" not in text
    assert seconds < 5


def test_an_endless_loop_ends_at_the_time_limit(tool):
    text, is_error, seconds = run(tool, "while True:\n    pass")
    assert is_error and text.startswith("TimeoutError") and "2 s" in text
    assert 1.5 < seconds < LIMITS.seconds + 3


def test_a_huge_allocation_ends_at_the_memory_limit(tool):
    text, is_error, seconds = run(tool, "x = [0] * 10**9")
    assert is_error and text.startswith("MemoryError") and "64 MiB" in text
    assert seconds < 5


def test_output_past_the_cap_is_an_error(tool):
    text, is_error, _ = run(tool, "for i in range(10000):\n    print(i)")
    assert is_error and "printed more than 4096 bytes" in text


def test_an_error_names_its_exception_after_the_output(tool):
    assert run(tool, "print('before')\n1/0")[:2] == (
        "before\nZeroDivisionError: division by zero",
        True,
    )


def test_cancel_stops_a_run(tool):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    text, is_error = PythonTool(PythonLimits(seconds=30)).run("while True: pass", cancel)
    assert is_error and "Cancelled" in text
    assert time.monotonic() - started < 5


def test_limits_come_from_the_settings(seedchat_home):
    from seedchat.settings import load_settings

    settings = load_settings()
    settings.set("python_time_limit", 3)
    settings.save()
    assert PythonLimits.from_settings().seconds == 3.0
