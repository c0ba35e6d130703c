"""A conversation's tool choice (``tools_off`` in its settings, set in the page's Tools
panel) is kept by the store and honoured by `seedchat chat -c` too: the same conversation
gets the same tools block in the page and the terminal (the real mcp-server-time)."""

from __future__ import annotations

import subprocess
import sys

from seedchat.settings import ChatSettings
from seedchat.store import Store
from tests.mcp_servers import REPO, config_with, time_entry


def shown_prompt(cli_env: dict, conv_id: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "seedchat", "chat", "-c", conv_id, "--show-prompt", "Time?"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=180,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_conversations_switched_off_tools_stay_off_in_seedchat_chat(cli_env, seedchat_home):
    config_with(seedchat_home / "config", time_entry()).save()
    with Store() as store:  # the home of the test (SEEDCHAT_HOME)
        on = store.create_conversation(settings=ChatSettings().to_record()).id
        record = ChatSettings(tools_off=("time/get_current_time",)).to_record()
        off = store.create_conversation(settings=record).id
        assert ChatSettings.from_record(store.get_conversation(off).settings).tools_off == (
            "time/get_current_time",
        )
    assert "get_current_time" in shown_prompt(cli_env, on)
    without = shown_prompt(cli_env, off)
    assert "get_current_time" not in without and "convert_time" in without
