"""The demo model's tool task (packaging/demo_model/transcripts.py) is written for the
tools the real `mcp-server-time` offers, exactly as seedchat's tool loop gives them to the
template: checked against the running server, so the training data cannot drift from it."""

from __future__ import annotations

import sys
from pathlib import Path

from seedchat.tools.servers import ToolHost
from tests.mcp_servers import config_with, time_entry

REPO = Path(__file__).resolve().parents[1]


def test_the_tool_task_is_written_for_the_real_servers_tools(tmp_path):
    sys.path.insert(0, str(REPO / "packaging" / "demo_model"))
    try:
        import transcripts
    finally:
        sys.path.remove(str(REPO / "packaging" / "demo_model"))
    with ToolHost(config_with(tmp_path, time_entry())) as host:
        offered = [tool.to_template() for tool in host.list_tools()]
    assert offered == transcripts.TIME_TOOLS
