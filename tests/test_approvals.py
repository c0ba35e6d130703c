"""seedchat/tools/approvals.py: "always allow" has one place — an MCP tool in its server's
``alwaysAllow`` in mcp.json (what `seedchat tools` reads and the peers write) — and the
tool loop reads and writes it there."""

from __future__ import annotations

import json
from pathlib import Path

from seedchat.chat.session import ChatSession, SessionTools
from seedchat.events import Done, ToolRun
from seedchat.tools import approvals
from seedchat.tools.config import ServerEntry, ToolsConfig, config_file
from tests.local_tools import LocalTools
from tests.replay import Replay, answer, tool_call
from tests.tool_scripts import Asking


def tokyo() -> list:
    return [tool_call("get_current_time", {"timezone": "Asia/Tokyo"}), Done("stop")]


def configured() -> Path:
    config = ToolsConfig(path=config_file())
    config.add(ServerEntry("time", command="mcp-server-time"))
    return config.save()


def test_an_mcp_tools_always_is_its_servers_always_allow_in_mcp_json():
    path = configured()
    assert not approvals.is_always_allowed("get_current_time", "time")
    approvals.allow_always("get_current_time", "time")
    assert json.loads(path.read_text())["mcpServers"]["time"]["alwaysAllow"] == ["get_current_time"]
    assert ToolsConfig.load().is_always_allowed("time", "get_current_time")
    assert approvals.is_always_allowed("get_current_time", "time")
    assert not approvals.is_always_allowed("get_current_time", None)  # of no server: not
    assert [p.name for p in path.parent.glob("*.json")] == ["mcp.json"]  # the one file
    approvals.forget("get_current_time", "time")
    assert "alwaysAllow" not in json.loads(path.read_text())["mcpServers"]["time"]


def test_the_loop_remembers_always_in_mcp_json_and_asks_no_more(tmp_path):
    path = configured()
    asking = Asking("always")
    replay = Replay(tokyo(), answer("7 am."), tokyo(), answer("Still 7 am."))
    session = ChatSession(replay, None, tools=SessionTools(LocalTools(server="time"), asking))
    first = list(session.turn("Time in Tokyo?"))
    assert next(e.server for e in first if isinstance(e, ToolRun)) == "time"  # waiting
    assert asking.asked[0].server == "time"
    assert json.loads(path.read_text())["mcpServers"]["time"]["alwaysAllow"] == ["get_current_time"]
    again = list(session.turn("And now?"))
    assert len(asking.asked) == 1
    assert [e.status for e in again if isinstance(e, ToolRun)] == ["running", "done"]


def test_a_bad_mcp_json_allows_nothing_unasked():
    config_file().parent.mkdir(parents=True, exist_ok=True)
    config_file().write_text("{", encoding="utf-8")
    assert not approvals.is_always_allowed("get_current_time", "time")


def test_seedchat_tools_list_shows_what_the_loop_reads(cli_env, seedchat_home):
    import subprocess
    import sys

    from tests.mcp_servers import REPO, time_entry

    config = ToolsConfig(path=seedchat_home / "config" / "mcp.json")
    config.add(time_entry())
    config.save()
    approvals.allow_always("get_current_time", "time")  # as the loop does on "always"

    def listed(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "seedchat", "tools", "list", *args],
            capture_output=True,
            text=True,
            env={**cli_env, "COLUMNS": "400"},
            timeout=120,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    tools = json.loads(listed("--json"))["servers"][0]["tools"]
    allowed = {t["name"]: t["always_allowed"] for t in tools}
    assert allowed["get_current_time"] is True and allowed["convert_time"] is False
    line = next(x for x in listed().splitlines() if "get_current_time" in x)
    assert "always allowed" in line


def test_a_built_in_tool_is_always_allowed_beside_its_switch(seedchat_home):
    from seedchat.tools.builtin.config import BuiltinConfig

    assert not approvals.is_always_allowed("run_python")
    approvals.allow_always("run_python", None)
    assert approvals.is_always_allowed("run_python")
    assert BuiltinConfig.load().always == {"run_python"}
    approvals.allow_always("not_a_builtin", None)  # nowhere to remember it: nothing written
    assert not approvals.is_always_allowed("not_a_builtin")
    assert "not_a_builtin" not in BuiltinConfig.path().read_text()


def test_the_built_in_functions_approvals_knows_are_the_tools_own(seedchat_home):
    """approvals.py tells a built-in tool by config.FUNCTIONS (without importing the tools):
    it must name exactly the functions each tool defines."""
    from seedchat.tools.builtin.config import BUILTINS, FUNCTIONS
    from seedchat.tools.builtin.runner import tool_infos

    assert set(FUNCTIONS) == set(BUILTINS)
    for name in BUILTINS:
        assert sorted(FUNCTIONS[name]) == sorted(t.name for t in tool_infos(name)), name
