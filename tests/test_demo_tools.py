"""The whole tool loop on a real model: the bundled demo model (packaging/demo_model, which
learnt the tool task) in the real llama.cpp, through `seedchat chat`, with the real
`mcp-server-time` in mcp.json. Asked the time in Tokyo it calls `get_current_time` with the
right zone, the server answers, and the model's answer quotes the time the server gave;
without tools it answers without a call; an old task with the tools on gets no call.

The server's clock is pinned (tests/pinned_clock_time_server.py): the tiny model copies a
time right about nine times in ten (packaging/demo_model/README.md), so with the real clock
the test would pass or fail with the minute; with a fixed time it is deterministic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seedchat.store import Store
from seedchat.tools.config import ToolsConfig
from tests.mcp_servers import PINNED_AT, PINNED_SERVER, own_copy, pinned_time_entry, running


@pytest.fixture
def time_server_on(seedchat_home) -> None:
    """The real `mcp-server-time` (its clock pinned), set up as `seedchat tools add` would;
    its script is the test's own copy (``no_time_server_left`` looks for it)."""
    config = ToolsConfig.load()
    config.add(pinned_time_entry(PINNED_AT, script=own_copy(PINNED_SERVER, seedchat_home)))
    config.save()


def chat(cli_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "seedchat", "chat", "--temperature", "0", *args],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def saved_messages() -> list:
    with Store() as store:
        (summary,) = store.list_conversations()
        return store.get_conversation(summary.id).messages


def no_time_server_left() -> bool:
    return not running(str(Path(os.environ["SEEDCHAT_HOME"]) / PINNED_SERVER.name))


@pytest.mark.parametrize("budget", ["-1", "512", "1024"])
def test_the_demo_model_calls_the_time_tool_and_answers_with_its_time(
    cli_env, time_server_on, budget
):
    proc = chat(cli_env, "What time is it in Tokyo?", "--yes", "--budget", budget)
    user, call, result, answer = saved_messages()
    assert [m.role for m in (user, call, result, answer)] == [
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    (made,) = call.tool_calls
    assert (made["name"], made["arguments"]) == ("get_current_time", {"timezone": "Asia/Tokyo"})
    said = json.loads(result.content)  # what the real server answered
    assert said["timezone"] == "Asia/Tokyo" and said["datetime"].endswith("+09:00")
    hhmm = said["datetime"][11:16]
    assert hhmm in answer.content and not answer.tool_calls  # the answer read the result
    assert '⚙ get_current_time(timezone="Asia/Tokyo") · done' in proc.stdout
    assert hhmm in proc.stdout.split("· done")[-1]
    assert no_time_server_left()


def test_without_tools_the_demo_model_answers_without_a_call(cli_env, time_server_on):
    proc = chat(cli_env, "What time is it in Tokyo?", "--no-tools", "--budget", "0")
    (_user, answer) = saved_messages()
    assert answer.role == "assistant" and not answer.tool_calls
    assert "cannot tell the time" in answer.content
    assert "get_current_time" not in proc.stdout
    assert no_time_server_left()


def test_an_old_task_with_the_tools_on_gets_no_call(cli_env, time_server_on):
    chat(cli_env, "What is 2 + 3?", "--yes", "--budget", "0")
    (_user, answer) = saved_messages()
    assert answer.role == "assistant" and not answer.tool_calls and answer.content.strip()
