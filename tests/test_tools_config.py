"""mcp.json as peers write it, and every `seedchat tools` verb through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seedchat.engine.host import count_text
from seedchat.seed.template import ChatTemplate, Message
from seedchat.tools.config import (
    ServerEntry,
    ToolConfigError,
    ToolsConfig,
    config_file,
    peer_config_files,
    read_peer_file,
)
from seedchat.tools.cost import VocabCounter, tool_costs
from seedchat.tools.results import ToolInfo
from tests.mcp_servers import REPO, everything_server, time_server

CLAUDE_DESKTOP = {
    "mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time", "--local-timezone=UTC"]},
        "github": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-github"],
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_example"},
        },
    },
    "globalShortcut": "Ctrl+Space",
}


def seedchat(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seedchat", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "400"},  # rich wraps nothing
        timeout=120,
        cwd=REPO,
    )


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# -- the file ------------------------------------------------------------------------------


def test_the_claude_desktop_shape_is_read_as_it_is(tmp_path):
    servers = read_peer_file(write(tmp_path / "claude.json", CLAUDE_DESKTOP))
    assert list(servers) == ["time", "github"]
    assert servers["time"].command == "uvx"
    assert servers["time"].args == ("mcp-server-time", "--local-timezone=UTC")
    assert servers["github"].env == {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_example"}
    assert all(s.enabled and s.transport == "stdio" for s in servers.values())


def test_vs_code_servers_key_jan_active_and_urls(tmp_path):
    vscode = {"servers": {"docs": {"type": "http", "url": "https://example.org/mcp"}}}
    jan = {
        "mcpServers": {
            "fetch": {"command": "uvx", "args": ["mcp-server-fetch"], "active": False},
            "remote": {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer t"}},
        },
        "mcpSettings": {"toolCallTimeoutSeconds": 30},
    }
    docs = read_peer_file(write(tmp_path / "vscode.json", vscode))["docs"]
    assert docs.transport == "http" and docs.url == "https://example.org/mcp"
    servers = read_peer_file(write(tmp_path / "jan.json", jan))
    assert servers["fetch"].enabled is False
    assert servers["remote"].headers == {"Authorization": "Bearer t"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"mcpServers": {"a": {"command": "x",}}}', "is not valid JSON"),
        ('{"mcpServers": {"a": {"args": ["x"]}}}', "server 'a' needs exactly one of 'command'"),
        ('{"mcpServers": {"a": {"command": "x", "url": "http://h/mcp"}}}', "exactly one of"),
        ('{"mcpServers": {"a": {"command": "x", "args": "--flag"}}}', "'args' must be a list"),
        ('{"mcpServers": {"a": {"url": "ftp://h"}}}', "'url' must be an http://"),
        ('{"mcpServers": {"a": {"command": "x", "env": {"K": ["v"]}}}}', "'env' must be"),
        ('{"mcpServers": {"a": {"command": "x", "timeout": -1}}}', "'timeout' must be"),
        ('{"tools": {}}', "has no 'mcpServers'"),
        ('["a"]', "must hold a JSON object"),
    ],
)
def test_a_bad_mcp_json_names_the_file_and_the_fault(text, expected):
    path = write(config_file(), text)
    with pytest.raises(ToolConfigError) as caught:
        ToolsConfig.load()
    assert str(path) in caught.value.message
    assert expected in caught.value.message


def test_saving_keeps_unknown_keys_and_always_allow_is_remembered(tmp_path):
    write(config_file(), {**CLAUDE_DESKTOP})
    config = ToolsConfig.load()
    assert not config.is_always_allowed("time", "get_current_time")
    config.allow_always("time", "get_current_time")
    config.set_enabled("github", False)
    config.save()
    again = ToolsConfig.load()
    assert again.is_always_allowed("time", "get_current_time")
    assert not again.is_always_allowed("time", "convert_time")
    assert not again.is_always_allowed("nope", "get_current_time")
    assert again.servers["github"].enabled is False
    raw = json.loads(config_file().read_text())
    assert raw["globalShortcut"] == "Ctrl+Space"  # a peer's own key is left alone
    assert raw["mcpServers"]["time"]["alwaysAllow"] == ["get_current_time"]
    assert raw["mcpServers"]["github"]["disabled"] is True
    with pytest.raises(ToolConfigError, match="No MCP server named 'nope'"):
        again.allow_always("nope", "x")


def test_peer_files_are_found_where_each_app_keeps_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    assert peer_config_files() == []
    if sys.platform == "darwin":
        claude = tmp_path / "Library/Application Support/Claude/claude_desktop_config.json"
    else:
        claude = tmp_path / ".config/Claude/claude_desktop_config.json"
    write(claude, CLAUDE_DESKTOP)
    write(tmp_path / ".lmstudio/mcp.json", {"mcpServers": {}})
    assert peer_config_files() == [
        ("Claude Desktop", claude),
        ("LM Studio", tmp_path / ".lmstudio/mcp.json"),
    ]


# -- prompt cost ---------------------------------------------------------------------------


def test_prompt_cost_is_counted_with_the_models_tokenizer_and_template():
    from seedchat.models import demo_model

    small = ToolInfo("s", "ping", "Ping.", {"type": "object", "properties": {}})
    big = ToolInfo(
        "s",
        "search",
        "Search the web for a query and return the ten best pages. " * 4,
        {"type": "object", "properties": {"query": {"type": "string"}, "n": {"type": "integer"}}},
    )
    with VocabCounter(demo_model()) as counter:
        assert counter.template is not None
        costs = tool_costs([small, big], counter.template, counter.tokens)
        rendered = counter.template.render([Message("user", "Hi")], tools=[big.to_template()])
        assert "def search(" in rendered and counter.tokens(rendered) > 0
    assert 0 < costs.per_tool[("s", "ping")] < costs.per_tool[("s", "search")]
    assert costs.total < costs.per_tool[("s", "ping")] + costs.per_tool[("s", "search")]
    template = ChatTemplate((REPO / "seedchat/data/templates/seed-oss.jinja").read_text())
    estimate = tool_costs([big], template, count_text(None))
    assert estimate.per_tool[("s", "search")] > 40


# -- the command line ----------------------------------------------------------------------


def test_every_tools_verb_through_the_real_command(cli_env):
    time_cmd = str(time_server())
    done = seedchat("tools", "list", env=cli_env)
    assert done.returncode == 0 and "No MCP servers yet" in done.stdout

    done = seedchat("tools", "add", "time", "--", time_cmd, "--local-timezone", "UTC", env=cli_env)
    assert done.returncode == 0, done.stderr
    everything = ["node", str(everything_server()), "stdio"]
    done = seedchat("tools", "add", "every", "--env", "A=1", "--", *everything, env=cli_env)
    assert done.returncode == 0, done.stderr
    done = seedchat(
        "tools", "add", "web", "--url", "http://127.0.0.1:9/mcp", "--header", "X-Key=k", env=cli_env
    )
    assert done.returncode == 0, done.stderr
    saved = json.loads(config_file().read_text())["mcpServers"]
    assert saved["time"] == {"command": time_cmd, "args": ["--local-timezone", "UTC"]}
    assert saved["every"]["env"] == {"A": "1"}
    assert saved["web"] == {"url": "http://127.0.0.1:9/mcp", "headers": {"X-Key": "k"}}
    done = seedchat("tools", "add", "time", "--", "other", env=cli_env)
    assert done.returncode == 1 and "already in" in done.stderr

    assert seedchat("tools", "disable", "web", env=cli_env).returncode == 0
    done = seedchat("tools", "list", "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    listed = {s["name"]: s for s in json.loads(done.stdout)["servers"]}
    assert listed["time"]["state"] == "ready" and listed["web"]["state"] == "off"
    costs = {t["name"]: t["tokens"] for t in listed["time"]["tools"]}
    assert costs["get_current_time"] > 0 and costs["convert_time"] > costs["get_current_time"]
    assert "echo" in {t["name"] for t in listed["every"]["tools"]}

    done = seedchat("tools", "list", env=cli_env)
    assert "get_current_time" in done.stdout and "tokens" in done.stdout

    done = seedchat(
        "tools", "call", "time", "get_current_time", '{"timezone": "Asia/Tokyo"}', env=cli_env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["timezone"] == "Asia/Tokyo"
    done = seedchat(
        "tools", "call", "time", "get_current_time", '{"timezone": "Mars/Base"}', env=cli_env
    )
    assert done.returncode == 1 and "Mars/Base" in done.stdout
    done = seedchat("tools", "call", "time", "get_current_time", "{timezone", env=cli_env)
    assert done.returncode == 1 and "not JSON" in done.stderr

    assert seedchat("tools", "enable", "web", env=cli_env).returncode == 0
    assert "disabled" not in json.loads(config_file().read_text())["mcpServers"]["web"]
    assert seedchat("tools", "remove", "web", env=cli_env).returncode == 0
    assert "web" not in json.loads(config_file().read_text())["mcpServers"]
    done = seedchat("tools", "remove", "web", env=cli_env)
    assert done.returncode == 1 and "No MCP server named 'web'" in done.stderr


def test_a_failed_server_is_listed_with_its_error(cli_env):
    write(config_file(), {"mcpServers": {"broken": {"command": "seedchat-no-such-server-xyz"}}})
    done = seedchat("tools", "list", env=cli_env)
    assert done.returncode == 0
    flat = " ".join(done.stdout.split())  # rich wraps lines in a pipe
    assert "broken failed" in flat and "there is no program" in flat


def test_a_bad_mcp_json_is_a_clear_error_in_the_command(cli_env):
    path = write(config_file(), '{"mcpServers": {"a": {"command": "x"},}}')
    done = seedchat("tools", "list", env=cli_env)
    assert done.returncode == 1
    assert "not valid JSON" in done.stderr and "mcp.json" in done.stderr
    assert "Traceback" not in done.stderr
    assert str(path) in done.stderr


def test_import_from_a_claude_desktop_file_and_from_where_peers_keep_them(cli_env, tmp_path):
    claude = write(tmp_path / "claude_desktop_config.json", CLAUDE_DESKTOP)
    done = seedchat("tools", "import", str(claude), env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout
    servers = ToolsConfig.load().servers
    assert servers["github"].env == {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_example"}
    done = seedchat("tools", "import", str(claude), env=cli_env)
    assert "0 added" in done.stdout and "time, github" in done.stderr  # left as they are

    home = tmp_path / "home"
    env = {**cli_env, "HOME": str(home)}
    env.pop("XDG_CONFIG_HOME", None)
    done = seedchat("tools", "import", env=env)
    assert done.returncode == 0 and "No Claude Desktop, LM Studio or Jan" in done.stdout
    write(home / ".lmstudio/mcp.json", {"mcpServers": {"lms": {"command": "lms-tool"}}})
    done = seedchat("tools", "import", env=env)
    assert done.returncode == 0, done.stderr
    assert "LM Studio" in done.stdout and "lms" in ToolsConfig.load().servers
    assert isinstance(ToolsConfig.load().servers["lms"], ServerEntry)
