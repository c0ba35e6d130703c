"""The one-click bundle: the launcher's command line, and packaging/bundle/smoke_test.py end
to end (the PyInstaller build, its archive, unpacked and started with no network, one chat
turn in Chromium, Ctrl+C).

A CI step of its own with tests/test_distribution.py (the ``distribution`` marker, which a
plain ``pytest`` deselects), on the other worker: the build and the wheel's fresh venv
each take one core.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.distribution

BUNDLE = REPO / "packaging" / "bundle"
# ~670 MiB now: OCR (onnxruntime, and the opencv-python build rapidocr asks for, with its
# GUI libraries) added ~400 MiB to the ~260 before; torch getting in makes it gigabytes
MAX_BUNDLE_BYTES = 800 * 2**20


def load_launcher():
    spec = importlib.util.spec_from_file_location(
        "seedchat_bundle_launcher", BUNDLE / "launcher.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["ui"]),  # double-clicked: the web UI, browser opened
        (["--no-browser", "--port", "7861"], ["ui", "--no-browser", "--port", "7861"]),
        (["--debug", "--no-browser"], ["--debug", "ui", "--no-browser"]),
        (["--debug"], ["--debug", "ui"]),
        (["doctor", "--json"], ["doctor", "--json"]),
        (["--debug", "chat", "hi"], ["--debug", "chat", "hi"]),
        (["--version"], ["--version"]),
        (["--help"], ["--help"]),
    ],
)
def test_launcher_defaults_to_the_ui_command(args, expected):
    from seedchat.cli import build_parser

    launcher = load_launcher()
    commands = {"ui", "chat", "convert", "models", "history", "doctor"}
    assert launcher.with_command(args, commands) == expected
    # What the launcher passes on is a valid command line (--help and --version exit 0).
    if {"--help", "--version"} & set(expected):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(expected)
        assert exited.value.code == 0
    else:
        command = next(a for a in expected if not a.startswith("-"))
        assert build_parser().parse_args(expected).command == command


@pytest.mark.slow
def test_bundle_builds_starts_offline_answers_and_stops(tmp_path):
    """packaging/bundle/smoke_test.py end to end: PyInstaller build, archive, unpack, doctor,
    start with no network (where unshare allows), one chat turn in Chromium, Ctrl+C."""
    dist, work = tmp_path / "dist", tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(BUNDLE / "smoke_test.py"), "--dist", str(dist), "--work", str(work)],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    report_file = dist / "smoke-report.json"
    assert report_file.exists(), f"no smoke report:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    report = json.loads(report_file.read_text())
    assert proc.returncode == 0 and report["ok"], (
        f"smoke test failed: {report.get('error')}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    )
    bundle = report["bundle"]
    assert bundle["folder_bytes"] < MAX_BUNDLE_BYTES, (
        f"the bundle is {bundle['folder_bytes']} bytes"
    )
    assert report["archive"].endswith(".tar.gz" if sys.platform == "linux" else ".zip")
    assert report["answer"] and report["exit_status"] == 0 and report["llama_log_lines"] > 0
    assert "demo" in report["model_status"]
    if report["offline"]:
        assert report["network_reachable"] is False
    print(
        f"\nbundle built in {bundle['build_seconds']} s: {bundle['folder_bytes'] / 2**20:.0f} MiB "
        f"({bundle['files']} files), archive {bundle['archive_bytes'] / 2**20:.0f} MiB; "
        f"smoke test {'offline' if report['offline'] else 'ONLINE'}: page in "
        f"{report['start_to_page_s']} s, turn {report['chat_turn_s']} s, stop "
        f"{report['shutdown_s']} s; total {report['total_s']} s"
    )
    shutil.rmtree(work, ignore_errors=True)  # hundreds of MB: keep only the reports
    shutil.rmtree(dist / "seedchat", ignore_errors=True)
