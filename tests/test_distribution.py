"""The pip distribution: `python -m build` makes an sdist and a wheel that hold every module,
the UI and the demo model; the wheel, installed into a fresh virtual environment with the
llama.cpp backend from the install path, passes `seedchat doctor` and serves the page.

The sdist and the wheel are built from a copy of the working tree (the build writes
``*.egg-info`` next to the sources). llama-cpp-python is the wheel that
``packaging/install.sh`` compiled and cached (its ``--plan`` says where), so nothing is
compiled here; the other dependencies come from pip (its cache makes that quick).
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

# Not in a plain `pytest` run (pyproject.toml deselects the marker): .ci/run runs this module
# as a step of its own, `pytest -m distribution tests/test_distribution.py`.
pytestmark = pytest.mark.distribution

LLAMA_VERSION = re.search(
    r'LLAMA_CPP_VERSION="([\d.]+)"', (REPO / "packaging" / "install.sh").read_text()
).group(1)
DEMO = "seedchat/data/demo/seedchat-demo-seed-oss.gguf"
# The source folders and where their modules land in the installed package.
# What the app must never pull in: torch is for the tests and the demo model's build only.
HEAVY = ("torch", "transformers", "pyinstaller", "playwright")
SKIP_COPY = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "artifacts",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "node_modules",
    "benchmarks",
    "docs",
    ".github",
    ".ci",
)


@dataclass(frozen=True)
class Dists:
    source: Path  # the copy of the working tree they were built from
    sdist: Path
    wheel: Path
    seconds: float


def source_files(root: Path) -> dict[str, Path]:
    """Every module and data file the wheel must hold, by its path inside the wheel."""
    want = {}
    for path in (root / "seedchat").rglob("*.py"):
        if "__pycache__" not in path.parts:
            want[path.relative_to(root).as_posix()] = path
    data = root / "seedchat" / "data"  # the demo model, the template, the catalog
    for path in data.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            want[f"seedchat/data/{path.relative_to(data).as_posix()}"] = path
    assets = root / "seedchat" / "ui" / "assets"
    if assets.is_dir():
        for path in assets.rglob("*"):
            if path.is_file():
                want[f"seedchat/ui/assets/{path.relative_to(assets).as_posix()}"] = path
    return want


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """`python -m build` (an sdist, then the wheel built from that sdist)."""
    pytest.importorskip("build", reason="the 'build' package is part of seedchat[dev]")
    work = tmp_path_factory.mktemp("dist")
    src, out = work / "src", work / "out"
    shutil.copytree(REPO, src, ignore=SKIP_COPY)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, (
        f"python -m build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    (sdist,) = out.glob("seedchat-*.tar.gz")
    (wheel,) = out.glob("seedchat-*-py3-none-any.whl")
    return Dists(source=src, sdist=sdist, wheel=wheel, seconds=seconds)


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(zf.read(name).decode())


def test_wheel_holds_every_module_the_ui_and_the_demo_model(dists):
    with zipfile.ZipFile(dists.wheel) as zf:
        names = set(zf.namelist())
        want = source_files(dists.source)
        missing = sorted(set(want) - names)
        assert not missing, f"the wheel lacks {missing}"
        for inside, path in want.items():
            assert sha256(zf.read(inside)) == sha256(path.read_bytes()), f"{inside} differs"
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "seedchat = seedchat.cli:main" in zf.read(entry_points).decode()
    assert DEMO in names and "seedchat/cli/__init__.py" in names and "seedchat/ui/app.py" in names
    # Nothing from the tests or the tooling leaks into the installed package.
    stray = [n for n in names if n.split("/")[0] not in ("seedchat",) and ".dist-info/" not in n]
    assert not stray, f"unexpected top-level files in the wheel: {stray}"


def test_sdist_can_rebuild_everything(dists):
    with tarfile.open(dists.sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    needed_files = (
        "pyproject.toml",
        "README.md",
        DEMO,
        "seedchat/ui/app.py",
        "seedchat/ui/theme.py",
        "seedchat/converters/convert.py",
        "seedchat/cli/__init__.py",
    )
    for needed in needed_files:
        assert needed in names, f"the sdist lacks {needed}"


def test_wheel_metadata_is_complete_and_the_app_needs_no_torch(dists):
    meta = wheel_metadata(dists.wheel)
    assert meta["Name"] == "seedchat"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["Summary"] and meta.get_payload().lstrip().startswith("# seedchat")
    classifiers = meta.get_all("Classifier")
    assert "Operating System :: Microsoft :: Windows" in classifiers
    assert any(c.startswith("Topic ::") for c in classifiers)
    assert {"convert", "dev", "bundle"} <= set(meta.get_all("Provides-Extra"))
    requires = meta.get_all("Requires-Dist")
    base = [r for r in requires if "extra ==" not in r]
    assert f"llama-cpp-python=={LLAMA_VERSION}" in base
    assert any(r.startswith("gradio") for r in base)
    for heavy in HEAVY:
        assert not any(re.match(rf"{heavy}\b", r, re.I) for r in base), f"{heavy} is a base dep"
    assert any(r.startswith("pyinstaller") and 'extra == "bundle"' in r for r in requires)


def cached_llama_wheel_dir() -> Path:
    """The folder where packaging/install.sh keeps the llama-cpp-python wheel it built."""
    env = {**os.environ, "SEEDCHAT_PYTHON": sys.executable}
    out = subprocess.run(
        ["bash", str(REPO / "packaging" / "install.sh"), "--plan"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout
    planned = Path(dict(line.split("=", 1) for line in out.strip().splitlines())["wheel_dir"])
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    for folder in [
        planned,
        *sorted(planned.parent.glob(f"llama-cpp-python-{LLAMA_VERSION}-*-{tag}-*")),
    ]:
        if list(folder.glob(f"llama_cpp_python-{LLAMA_VERSION}-*.whl")):
            return folder
    pytest.fail(
        f"no cached llama-cpp-python {LLAMA_VERSION} wheel in {planned.parent}: "
        "run 'bash packaging/install.sh' first (it builds and caches it)"
    )


def run_seedchat(venv: Path, *args: str, env: dict[str, str], timeout: int = 120):
    return subprocess.run(
        [str(venv / "bin" / "seedchat"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def fresh_venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with only the wheel (and its dependencies) installed."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    started = time.perf_counter()
    proc = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--find-links",
            str(cached_llama_wheel_dir()),
            "--only-binary=llama-cpp-python",
            str(dists.wheel),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"pip install of the wheel failed:\n{proc.stderr[-4000:]}"
    print(
        f"\nwheel {dists.wheel.stat().st_size / 2**20:.1f} MiB, built in {dists.seconds:.1f} s; "
        f"installed into a fresh venv in {time.perf_counter() - started:.1f} s"
    )
    return venv


@pytest.fixture
def fresh_env(seedchat_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        SEEDCHAT_HOME=str(seedchat_home), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False"
    )
    return env


@pytest.mark.slow
def test_fresh_venv_passes_doctor_with_the_demo_model(fresh_venv, fresh_env):
    proc = run_seedchat(fresh_venv, "doctor", "--json", env=fresh_env)
    assert proc.returncode == 0, f"seedchat doctor failed:\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is True
    assert checks["llama.cpp backend"]["status"] == "ok"
    assert LLAMA_VERSION in checks["llama.cpp backend"]["detail"]
    assert str(fresh_venv) in checks["python"]["detail"]  # the fresh venv's own Python
    models = [c["detail"] for c in report["checks"] if c["name"] == "model"]
    demo = [d for d in models if "seedchat-demo-seed-oss.gguf" in d]
    assert demo, f"doctor lists no demo model: {models}"
    assert str(fresh_venv) in demo[0], "the demo model should come from the installed wheel"
    # The installed app carries no torch / transformers / pyinstaller.
    probe = subprocess.run(
        [
            str(fresh_venv / "bin" / "python"),
            "-c",
            "import importlib.util as u, sys; sys.stdout.write(' '.join("
            f"m for m in {HEAVY!r} if u.find_spec(m.lower())))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert probe.stdout == "", f"the fresh install pulled in {probe.stdout}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_fresh_venv_serves_the_ui_and_stops_on_ctrl_c(fresh_venv, fresh_env):
    port = free_port()
    proc = subprocess.Popen(
        [str(fresh_venv / "bin" / "seedchat"), "ui", "--no-browser", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=fresh_env,
        # SIGINT back to its default: under a background shell it is inherited ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        url, page, deadline = f"http://127.0.0.1:{port}/", "", time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    page = resp.read().decode("utf-8", "replace")
                    break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, f"seedchat ui exited early:\n{proc.stdout.read()}"
        assert "gradio" in page.lower(), f"no Gradio page at {url}"
        with urllib.request.urlopen(url + "config", timeout=10) as resp:
            config = json.loads(resp.read())
        ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
        assert {"chatbot", "message", "send", "model-status"} <= ids
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, f"seedchat ui did not stop cleanly on Ctrl+C (exit {rc})"
