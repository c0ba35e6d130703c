"""The built-in tools beside the MCP servers: off until switched on, approved like MCP
calls in the tool loop (a real sandbox, a real SQLite file), and `seedchat tools` for them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from seedchat.chat.session import ChatSession, SessionTools
from seedchat.chat.tool_loop import DECLINED
from seedchat.events import ToolResult, ToolRun
from seedchat.store import Store, export_json
from seedchat.tools.builtin.config import BuiltinConfig
from seedchat.tools.builtin.python import PythonTool
from seedchat.tools.builtin.runner import BuiltinTools, with_builtins
from tests.cli_run import run
from tests.replay import Replay, answer
from tests.tool_scripts import Asking, call_reply, of

BIG = "1267650600228229401496703205376"


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "conversations.db") as s:
        yield s


@pytest.fixture
def runs(monkeypatch) -> list[str]:
    """The code each real sandbox run was given, in order."""
    seen: list[str] = []
    real = PythonTool.run

    def run(self, code, cancel=None):
        seen.append(code)
        return real(self, code, cancel)

    monkeypatch.setattr(PythonTool, "run", run)
    return seen


def python_on() -> BuiltinTools:
    config = BuiltinConfig()
    config.set_enabled("python", True)
    return BuiltinTools(config)


def test_every_builtin_is_off_until_switched_on():
    assert not BuiltinTools() and with_builtins(None) is None
    assert [s["function"]["name"] for s in python_on().specs()] == ["run_python"]


def test_run_python_runs_after_approval_and_is_saved(store, runs):
    asking = Asking("once")
    replay = Replay(call_reply(("run_python", {"code": "print(2**100)"})), answer("Done."))
    session = ChatSession(replay, store, tools=SessionTools(python_on(), asking))
    events = list(session.turn("What is 2**100?"))
    assert asking.asked[0].name == "run_python" and asking.asked[0].server is None
    assert runs == ["print(2**100)"]
    assert [e.status for e in of(events, ToolRun)] == ["waiting", "running", "done"]
    assert of(events, ToolResult)[0].content == BIG
    assert replay.asked[1][-1].role == "tool" and replay.asked[1][-1].content == BIG
    conv = store.get_conversation(session.thread.conversation_id)
    tool = next(m for m in conv.messages if m.role == "tool")
    assert (tool.tool_name, tool.content) == ("run_python", BIG)
    assert BIG in json.dumps(export_json(store, [conv.id]))


def test_a_denied_call_never_runs(store, runs):
    replay = Replay(call_reply(("run_python", {"code": "print(2**100)"})), answer("Fine."))
    session = ChatSession(replay, store, tools=SessionTools(python_on(), Asking("deny")))
    events = list(session.turn("What is 2**100?"))
    assert runs == []
    assert of(events, ToolResult)[0].content == DECLINED


def seedchat(env, *args) -> subprocess.CompletedProcess:
    return run(*args, env=env)


def test_seedchat_tools_enable_list_call_disable(cli_env, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("the walrus\n", encoding="utf-8")
    listed = json.loads(seedchat(cli_env, "tools", "list", "--json").stdout)
    assert {b["name"]: b["state"] for b in listed["builtin"]} == {
        "python": "off",
        "files": "off",
        "fetch": "off",
    }
    refused = seedchat(cli_env, "tools", "enable", "files")
    assert refused.returncode != 0 and "--folder" in refused.stderr
    assert seedchat(cli_env, "tools", "enable", "files", "--folder", str(folder)).returncode == 0
    assert seedchat(cli_env, "tools", "enable", "python").returncode == 0
    listed = json.loads(seedchat(cli_env, "tools", "list", "--json").stdout)
    states = {b["name"]: (b["builtin"], b["state"]) for b in listed["builtin"]}
    assert states == {"python": (True, "on"), "files": (True, "on"), "fetch": (True, "off")}
    assert listed["builtin"][1]["folders"] == [str(folder.resolve())]
    text = seedchat(cli_env, "tools", "list").stdout
    assert "python built-in on" in text and "fetch built-in off" in text
    called = seedchat(cli_env, "tools", "call", "python", "run_python", '{"code": "2**100"}')
    assert (called.returncode, called.stdout.strip()) == (0, BIG)
    found = seedchat(cli_env, "tools", "call", "files", "search_files", '{"query": "walrus"}')
    assert found.stdout.strip() == "a.txt (line 1): the walrus"
    refused = seedchat(cli_env, "tools", "call", "fetch", "fetch_url", '{"url": "http://[::1]/"}')
    assert refused.returncode == 1 and "not a public address" in refused.stderr
    assert seedchat(cli_env, "tools", "disable", "python").returncode == 0
    assert BuiltinConfig.load().enabled == {"files"}


def test_the_chat_offers_a_switched_on_builtin_in_its_prompt(cli_env):
    def prompt() -> str:
        done = seedchat(cli_env, "chat", "--show-prompt", "Hi")
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "run_python" not in prompt()
    assert seedchat(cli_env, "tools", "enable", "python").returncode == 0
    assert "run_python" in prompt()
