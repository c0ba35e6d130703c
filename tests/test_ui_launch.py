"""Launching the UI: localhost by default, the next free port, the warning and password
beyond localhost, and the real `seedchat ui` command serving the page."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from ports import free_run, occupied

from seedchat.network import browser_url, find_free_port, is_loopback, port_is_free
from seedchat.ui.launch import AUTH_USER, LaunchOptions, exposure_warning


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.168.1.20", False),
        ("::", False),
        ("myhost.lan", False),
    ],
)
def test_is_loopback(host, local):
    assert is_loopback(host) is local
    assert LaunchOptions(host=host).public is (not local)


def test_taken_port_falls_back_to_the_next_free_one():
    with occupied() as taken:
        assert not port_is_free("127.0.0.1", taken)
        port = find_free_port("127.0.0.1", taken)
        assert port > taken and port_is_free("127.0.0.1", port)
    start = free_run()
    assert find_free_port("127.0.0.1", start) == start


def test_warning_only_beyond_localhost():
    assert exposure_warning(LaunchOptions()) is None
    warn = exposure_warning(LaunchOptions(host="0.0.0.0"))
    assert "0.0.0.0" in warn and "--password" in warn
    warn = exposure_warning(LaunchOptions(host="0.0.0.0", password="s3cret"))
    assert "password required" in warn and "s3cret" not in warn
    assert browser_url("0.0.0.0", 7861) == "http://127.0.0.1:7861/"
    assert browser_url("::1", 7861) == "http://[::1]:7861/"


@contextmanager
def seedchat_ui(cli_env: dict, *args: str) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """Run the real `seedchat ui` until it prints its URL; yield (process, url, stderr so far)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "seedchat", "ui", "--no-browser", *args],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "running at" in line or not line:
                break
        match = re.search(r"http://\S+/", line)
        assert match, f"no URL printed: {line!r}; rc={proc.poll()}"
        yield proc, match.group(0), ""
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get(url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def test_seedchat_ui_serves_on_localhost_and_skips_a_taken_port(cli_env):
    start = free_run()
    with occupied(start), seedchat_ui(cli_env, "--port", str(start)) as (_proc, url, _):
        assert url == f"http://127.0.0.1:{start + 1}/"
        status, body = get(url)
        assert status == 200 and "gradio" in body.lower()
        status, config = get(url + "config")
        assert status == 200
        cfg = json.loads(config)
        assert cfg["title"] == "seedchat"
        assert cfg["analytics_enabled"] is False
        # no web fonts or scripts from outside (the browser test watches real requests)
        assert "googleapis" not in body + config and "fonts.gstatic" not in body + config
        # bound to loopback only: the machine's other addresses do not answer
        other = socket.gethostbyname(socket.gethostname())
        if not other.startswith("127."):
            with pytest.raises(OSError):
                socket.create_connection((other, start + 1), timeout=2).close()


def test_beyond_localhost_warns_and_asks_for_the_password(cli_env):
    port = free_run()
    cli_env = {**cli_env, "SEEDCHAT_PASSWORD": "s3cret"}
    with seedchat_ui(cli_env, "--host", "0.0.0.0", "--port", str(port)) as (proc, url, _):
        status, _ = get(url + "config")
        assert status == 401
        form = f"username={AUTH_USER}&password=wrong".encode()
        status, _ = get(url + "login", form)
        assert status == 400
        form = f"username={AUTH_USER}&password=s3cret".encode()
        status, body = get(url + "login", form)
        assert status == 200 and "success" in body
    err = proc.stderr.read()
    assert "warning:" in err and "0.0.0.0" in err and "password required" in err


def test_a_second_seedchat_opens_the_running_one(cli_env):
    """A second `seedchat ui` finds the first by its record, says where it runs and exits
    (one model in memory); a stale record (nothing answers there) is dropped."""
    from seedchat.ui.instance import instance_file, running_instance

    port = free_run()
    with seedchat_ui(cli_env, "--port", str(port)) as (_proc, url, _):
        record = json.loads(instance_file().read_text())
        assert record["url"] == url
        second = subprocess.run(
            [sys.executable, "-m", "seedchat", "ui", "--no-browser"],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout and url in second.stdout
        assert running_instance() == url
    # the first one stopped (SIGTERM, as a logout does) and removed its record
    assert not instance_file().exists()
    assert running_instance() is None
    instance_file().write_text(json.dumps({"url": f"http://127.0.0.1:{port}/", "pid": 1}))
    assert running_instance() is None and not instance_file().exists()


def test_gradio_imports_without_rewriting_its_type_stubs(tmp_path):
    """seedchat's import of gradio skips the .pyi stubs gradio regenerates at every
    import (half of the import's time), writes nothing into gradio's folder, and gradio
    still builds pages; a plain import keeps gradio's own step (the hook is what skips it)."""
    code = r"""
import json, os, sys, time
from pathlib import Path
import importlib.util
root = Path(importlib.util.find_spec("gradio").origin).parent
stubs = sorted((root / "components").glob("*.pyi"))
before = {p.name: p.stat().st_mtime_ns for p in stubs}
if sys.argv[1] == "seedchat":
    from seedchat.ui.gradio_import import prepare
    prepare()
time.sleep(0.05)
import gradio as gr
import gradio.component_meta as meta
with gr.Blocks() as demo:
    gr.Chatbot()
    box = gr.Textbox(value="hi")
config = demo.get_config_file()
after = {p.name: p.stat().st_mtime_ns for p in stubs}
print(json.dumps({
    "writer": meta.create_or_modify_pyi.__name__,
    "components": len(config["components"]),
    "stubs": len(stubs),
    "rewritten": sum(before[k] != after[k] for k in before),
}))
"""
    runs = {}
    for kind in ("seedchat", "plain"):
        proc = subprocess.run(
            [sys.executable, "-c", code, kind],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
        )
        assert proc.returncode == 0, proc.stderr
        runs[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert runs["seedchat"]["writer"] == "_no_stubs"
    assert runs["seedchat"]["components"] >= 2 and runs["seedchat"]["stubs"] > 10
    assert runs["seedchat"]["rewritten"] == 0
    assert runs["plain"]["writer"] == "create_or_modify_pyi"
    assert runs["plain"]["components"] == runs["seedchat"]["components"]


def test_the_instance_record_never_sends_a_request_off_the_machine(monkeypatch):
    """A record naming another host (a tampered or copied file) is never asked: nothing
    leaves the machine; it counts as stale and is dropped."""
    import urllib.request

    from seedchat.ui import instance

    asked = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: asked.append(a) or 1 / 0)
    for url in ("http://example.com:7860/", "http://10.0.0.5:7860/", "file:///etc/passwd"):
        assert instance.answers(url) is False
        instance.instance_file().parent.mkdir(parents=True, exist_ok=True)
        instance.instance_file().write_text(json.dumps({"url": url, "pid": 1}))
        assert instance.running_instance() is None
        assert not instance.instance_file().exists()
    assert asked == []
