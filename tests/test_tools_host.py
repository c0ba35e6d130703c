"""The MCP client on real servers: mcp-server-time and server-everything over stdio,
server-everything over Streamable HTTP, and the SDK's own FastMCP for the cases a real
server will not show on demand (a call that never returns, a kill mid-call)."""

from __future__ import annotations

import json
import threading
import time

import psutil
import pytest

from seedchat.tools.config import ServerEntry, ToolsConfig
from seedchat.tools.servers import ToolHost
from tests.mcp_servers import (
    config_with,
    descendants,
    everything_entry,
    script_entry,
    serve_everything_http,
    time_entry,
)


@pytest.fixture
def everything_url():
    yield from serve_everything_http()


def test_stdio_time_server_lists_and_calls(tmp_path):
    with ToolHost(config_with(tmp_path, time_entry())) as host:
        tools = host.list_tools()
        assert [t.name for t in tools] == ["convert_time", "get_current_time"]  # sorted
        current = next(t for t in tools if t.name == "get_current_time")
        assert current.server == "time"
        assert "timezone" in current.input_schema["properties"]
        assert current.to_template()["function"]["parameters"] == current.input_schema
        result = host.call("time", "get_current_time", {"timezone": "Asia/Tokyo"})
    assert result.status == "ok" and not result.is_error
    assert result.structured["timezone"] == "Asia/Tokyo"
    assert "+09:00" in result.text
    assert 0 < result.duration_s < 30


def test_a_tool_error_comes_back_as_an_error_result(tmp_path):
    with ToolHost(config_with(tmp_path, time_entry())) as host:
        result = host.call("time", "get_current_time", {"timezone": "Nowhere/Atlantis"})
    assert result.status == "error" and result.is_error
    assert "Nowhere/Atlantis" in result.text
    assert result.error is None  # the server's error, not seedchat's


def test_everything_over_stdio_text_structured_and_image(tmp_path):
    with ToolHost(config_with(tmp_path, everything_entry())) as host:
        names = {t.name for t in host.list_tools()}
        assert {"echo", "get-sum", "get-structured-content", "get-tiny-image"} <= names
        echo = host.call("everything", "echo", {"message": "hello, seed"})
        total = host.call("everything", "get-sum", {"a": 2, "b": 40})
        weather = host.call("everything", "get-structured-content", {"location": "Chicago"})
        image = host.call("everything", "get-tiny-image", {})
        bad = host.call(
            "everything", "get-resource-reference", {"resourceType": "nonsense", "resourceId": 1}
        )
    assert echo.status == "ok" and "hello, seed" in echo.text
    assert "42" in total.text
    assert set(weather.structured) >= {"temperature", "conditions", "humidity"}
    kinds = [p.kind for p in image.parts]
    assert "image" in kinds
    picture = image.parts[kinds.index("image")]
    assert picture.mime_type == "image/png" and picture.data
    assert "[image (image/png)]" in image.text  # named for the model, not pasted
    assert bad.status == "error" and "resourceType" in bad.text


def test_everything_over_streamable_http(tmp_path, everything_url):
    entry = ServerEntry("remote", url=everything_url, headers={"X-Test": "1"})
    with ToolHost(config_with(tmp_path, entry)) as host:
        tools = host.list_tools()
        assert "echo" in {t.name for t in tools}
        assert host.status("remote").transport == "http"
        result = host.call("remote", "echo", {"message": "over http"})
        weather = host.call("remote", "get-structured-content", {"location": "New York"})
    assert result.status == "ok" and "over http" in result.text
    assert "temperature" in weather.structured


def test_an_unreachable_url_fails_with_the_address(tmp_path):
    from tests.mcp_servers import free_port

    url = f"http://127.0.0.1:{free_port()}/mcp"
    with ToolHost(config_with(tmp_path, ServerEntry("gone", url=url)), start_timeout=10) as host:
        result = host.call("gone", "echo", {"message": "x"})
    assert result.status == "failed"
    assert "'gone'" in result.error and "did not start" in result.error


def test_a_bad_command_fails_with_a_clear_message(tmp_path):
    entry = ServerEntry("broken", command="seedchat-no-such-server-xyz")
    with ToolHost(config_with(tmp_path, entry)) as host:
        assert host.list_tools() == []
        status = host.status("broken")
        result = host.call("broken", "anything", {})
    assert status.state == "failed"
    assert "there is no program 'seedchat-no-such-server-xyz'" in status.error
    assert result.status == "failed" and "did not start" in result.error


def test_a_server_that_exits_at_start_shows_its_stderr_tail(tmp_path):
    import sys

    code = "import sys; print('line one', file=sys.stderr); print('FOO_TOKEN is not set', file=sys.stderr); sys.exit(3)"
    entry = ServerEntry("exits", command=sys.executable, args=("-c", code))
    with ToolHost(config_with(tmp_path, entry)) as host:
        host.list_tools()
        status = host.status("exits")
    assert status.state == "failed"
    assert "exited before it answered" in status.error
    assert "FOO_TOKEN is not set" in status.error  # the tail of its stderr
    assert "exits.log" in status.error  # where the whole of it is


def test_a_server_that_closes_its_input_before_the_first_message_exited(tmp_path):
    """The race the test above can lose: the child is gone before the client's first
    message is written (a broken pipe, not the SDK's "connection closed")."""
    script = "exec 0<&-; echo 'no input' >&2; sleep 1; exit 3"  # a shell starts in a moment
    entry = ServerEntry("closes", command="sh", args=("-c", script))
    with ToolHost(config_with(tmp_path, entry)) as host:
        host.list_tools()
        status = host.status("closes")
    assert status.state == "failed"
    assert "exited before it answered" in status.error, status.error
    assert "no input" in status.error


def test_a_hanging_call_times_out_and_the_server_still_answers(tmp_path):
    with ToolHost(config_with(tmp_path, script_entry())) as host:
        host.list_tools()
        started = time.monotonic()
        result = host.call("test", "hang", {}, timeout=1.5)
        took = time.monotonic() - started
        after = host.call("test", "pid", {})
    assert result.status == "timeout"
    assert "took longer than 1.5 s" in result.error
    assert 1.4 < took < 10
    assert after.status == "ok" and after.text.isdigit()


def test_the_entry_timeout_is_used_when_the_call_gives_none(tmp_path):
    with ToolHost(config_with(tmp_path, script_entry(timeout=1.0)), call_timeout=60) as host:
        result = host.call("test", "hang", {})
    assert result.status == "timeout" and "1 s" in result.error


def test_cancel_stops_a_call(tmp_path):
    cancel = threading.Event()
    with ToolHost(config_with(tmp_path, script_entry())) as host:
        assert host.call("test", "pid", {}).status == "ok"  # started
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        result = host.call("test", "hang", {}, timeout=30, cancel=cancel)
        took = time.monotonic() - started
    assert result.status == "cancelled"
    assert took < 3


def test_a_server_killed_mid_call_fails_the_call_then_restarts_with_backoff(tmp_path):
    with ToolHost(config_with(tmp_path, script_entry())) as host:
        first_pid = int(host.call("test", "pid", {}).text)
        threading.Timer(0.5, lambda: psutil.Process(first_pid).kill()).start()
        started = time.monotonic()
        result = host.call("test", "hang", {}, timeout=30)
        assert time.monotonic() - started < 10
        assert result.status == "failed"
        assert "'test'" in result.error and "stopped unexpectedly" in result.error
        assert "restarted on the next call" in result.error
        assert host.status("test").state == "crashed"

        started = time.monotonic()
        again = host.call("test", "pid", {})
        waited = time.monotonic() - started
        assert again.status == "ok", again.error
        assert int(again.text) != first_pid
        assert waited >= 0.9  # the first backoff is a second
        assert host.status("test").state == "ready"


def test_unknown_server_and_tool_are_clear_failures(tmp_path):
    with ToolHost(config_with(tmp_path, time_entry())) as host:
        no_server = host.call("nope", "x", {})
        no_tool = host.call("time", "get_weather", {})
    assert no_server.status == "failed" and "No MCP server named 'nope'" in no_server.error
    assert no_tool.status == "failed"
    assert "no tool 'get_weather'" in no_tool.error and "get_current_time" in no_tool.error


def test_a_disabled_server_is_not_started(tmp_path):
    entry = ServerEntry("off", command="seedchat-no-such-server-xyz", enabled=False)
    with ToolHost(config_with(tmp_path, entry)) as host:
        assert host.list_tools() == []
        assert host.status("off").state == "off"
        result = host.call("off", "x", {})
    assert result.status == "failed" and "switched off" in result.error


def test_no_server_process_is_left_after_close(tmp_path):
    before = {p.pid for p in descendants()}
    host = ToolHost(config_with(tmp_path, time_entry(), everything_entry(), script_entry()))
    assert len(host.list_tools()) > 5
    assert host.call("test", "freeze", {}, timeout=0.5).status == "timeout"  # blocked
    children = [p for p in descendants() if p.pid not in before]
    assert len(children) >= 3
    host.close()
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
    host.close()  # twice is harmless


def test_a_child_sees_only_the_allow_listed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDCHAT_TEST_SECRET", "from-the-parent")
    given = everything_entry("given", env={"SEEDCHAT_TEST_SECRET": "named-in-the-entry"})
    with ToolHost(config_with(tmp_path, everything_entry(), given)) as host:
        plain = json.loads(host.call("everything", "get-env", {}).text)
        named = json.loads(host.call("given", "get-env", {}).text)
    assert "SEEDCHAT_TEST_SECRET" not in plain
    assert "PATH" in plain and "HOME" in plain
    assert named["SEEDCHAT_TEST_SECRET"] == "named-in-the-entry"


def test_the_host_starts_servers_in_the_background(tmp_path):
    with ToolHost(config_with(tmp_path, script_entry())) as host:
        started = time.monotonic()
        host.start()
        assert time.monotonic() - started < 0.5  # returns at once
        deadline = time.monotonic() + 30
        while host.status("test").state != "ready" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert host.status("test").state == "ready"
        assert {t.name for t in host.status("test").tools} == {"hang", "freeze", "pid", "env"}


def test_switching_off_stops_a_server_and_reload_reads_the_file_again(tmp_path):
    config = config_with(tmp_path, script_entry(), time_entry())
    config.save()
    with ToolHost(ToolsConfig.load(config.path)) as host:
        server_pid = int(host.call("test", "pid", {}).text)
        host.set_enabled("test", False)
        assert host.status("test").state == "off"
        assert not ToolsConfig.load(config.path).servers["test"].enabled  # saved
        assert not psutil.pid_exists(server_pid)  # stopped, and reaped
        assert host.call("test", "pid", {}).status == "failed"

        host.call("time", "get_current_time", {"timezone": "UTC"})
        again = ToolsConfig.load(config.path)
        again.remove("time")
        again.add(script_entry("second"))
        again.set_enabled("test", True)
        again.save()
        host.reload()
        assert host.servers == ["test", "second"]
        assert host.call("time", "get_current_time", {}).status == "failed"
        assert host.call("second", "pid", {}).status == "ok"
        assert host.call("test", "pid", {}).status == "ok"
