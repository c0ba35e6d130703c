"""`seedchat plan` and what `seedchat chat` says about the context: a long prompt's size,
the turns left out when a conversation outgrows it (the real command, the demo model)."""

from __future__ import annotations

import json
import subprocess
import sys

from seedchat.models import demo_model


def seedchat(env: dict[str, str], *args: str, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "seedchat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_plan_prices_each_kv_type_on_a_faked_gpu(cli_env):
    env = {**cli_env, "SEEDCHAT_FAKE_GPUS": "Test GPU:24576:20480"}
    proc = seedchat(env, "plan", str(demo_model()), "--context", "3000")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 6 and all(
        line.startswith("Reload with 4,096 tokens, KV ") for line in lines
    )
    assert any("KV q8_0 in RAM: +" in line and line.endswith("— fits") for line in lines)
    assert "Test GPU" in proc.stderr
    one = seedchat(env, "plan", str(demo_model()), "--context", "3000", "--kv", "q4_0", "--json")
    plans = json.loads(one.stdout)
    assert {p["kv_type"] for p in plans} == {"q4_0"} and all(p["flash_attn"] for p in plans)
    beyond = seedchat(cli_env, "plan", str(demo_model()), "--context", "10000000")
    assert beyond.returncode == 1 and "trained context" in beyond.stdout


def test_chat_prints_a_long_prompts_size_and_names_the_turns_left_out(cli_env):
    model = str(demo_model())
    common = ("chat", "--model", model, "--no-save", "--budget", "0", "--max-tokens", "8")
    long = " ".join(["apple"] * 300)
    proc = seedchat(cli_env, *common, "--context", "1024", long)
    assert proc.returncode == 0, proc.stderr
    assert " of 1,024 tokens" in proc.stderr  # a quarter of the context or more: printed
    short = seedchat(cli_env, *common, "--context", "1024", "Hi")
    assert "of 1,024 tokens" not in short.stderr
    common = ("chat", "--model", model, "--context", "256", "--no-save", "--budget", "0")
    questions = [f"Say the word pear {i} now." for i in range(8)]
    chat = seedchat(cli_env, *common, "--max-tokens", "24", stdin="\n".join(questions) + "\n\n")
    assert chat.returncode == 0, chat.stderr
    assert 'oldest message(s): user "Say the word pear 0 now."' in " ".join(chat.stdout.split())
