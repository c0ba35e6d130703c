"""Smoke test of the one-click bundle: build it, unpack the archive, start it without
network, chat once through the page, stop it.

    python packaging/bundle/smoke_test.py              # build (build.py), then test the archive
    python packaging/bundle/smoke_test.py --no-build   # test the last archive built

Run it with the development environment's Python (``bash packaging/install.sh --dev``
installs PyInstaller and Playwright): it drives the page with Playwright in a
headless Chromium (Debian's /usr/bin/chromium, ``SEEDCHAT_CHROMIUM``, or Playwright's own).

What it checks, in order:
  1. the archive unpacks into a fresh folder;
  2. ``seedchat doctor`` of the bundle passes and finds the bundled demo model;
  3. ``seedchat --no-browser --port P`` (the launcher) serves the page;
  4. the demo model loads, one message sent with ``#send`` gets an answer in ``#chatbot``
     and the page makes no request outside this machine;
  5. llama.cpp's log lines reached Python's logging (``--debug`` shows them);
  6. Ctrl+C (SIGINT) stops the app with exit status 0 within 30 s.

On Linux, steps 2-6 run in a network namespace of their own (``unshare -n``, with only
the loopback interface up), so the bundle has no network at all; elsewhere, or where
``unshare`` is not allowed, they run on the normal network and the report says so.
The result, with every duration, is printed and written to
``dist/bundle/smoke-report.json``; the app's output goes to ``smoke-app.log`` next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DIST = REPO / "dist" / "bundle"  # build.py's default output folder
MESSAGE = "Hello! Please introduce yourself in one sentence."
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]


class SmokeError(Exception):
    """A smoke-test step failed; the message says which."""


def exe_name() -> str:
    return "seedchat.exe" if platform.system() == "Windows" else "seedchat"


# ---- step 1: unpack ---------------------------------------------------------------------


def extract(archive: Path, into: Path) -> Path:
    """Unpack ``archive`` into ``into`` and return the app folder (keeps the exec bits)."""
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as tf:
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(into, **kwargs)
    elif archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, into))
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    path.chmod(mode)
    else:
        raise SmokeError(f"{archive} is neither a .tar.gz nor a .zip")
    app = into / "seedchat"
    if not (app / exe_name()).is_file():
        raise SmokeError(f"the archive has no seedchat/{exe_name()}")
    return app


# ---- steps 2-6: inside the (network-less) namespace ---------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def network_reachable() -> bool:
    """Whether a public address answers (a few seconds at most)."""
    try:
        with socket.create_connection(("pypi.org", 443), timeout=3):
            return True
    except OSError:
        return False


def app_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(SEEDCHAT_HOME=str(home), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    return env


def check_doctor(app: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [str(app / exe_name()), "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise SmokeError(
            f"doctor printed no JSON (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        ) from exc
    if proc.returncode != 0 or not report.get("ok"):
        failed = [c for c in report["checks"] if c["status"] == "fail"]
        raise SmokeError(f"seedchat doctor failed in the bundle: {failed}")
    demo = [c["detail"] for c in report["checks"] if c["name"] == "model" and "demo" in c["detail"]]
    if not demo or not any(str(p) in demo[0] for p in (app, app.resolve())):
        raise SmokeError(f"doctor did not find the bundled demo model: {demo}")
    backend = next(c["detail"] for c in report["checks"] if c["name"] == "llama.cpp backend")
    return {"backend": backend, "demo": demo[0]}


def wait_for_page(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SmokeError(f"the app exited ({proc.returncode}) before serving:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if (
                    resp.status == 200
                    and "gradio" in resp.read().decode("utf-8", "replace").lower()
                ):
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise SmokeError(f"no page at {url} after {timeout:.0f} s:\n{tail(log)}")


def tail(log: Path, n: int = 3000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else ""


def chromium_path() -> str | None:
    path = os.environ.get("SEEDCHAT_CHROMIUM") or "/usr/bin/chromium"
    return path if Path(path).exists() else None  # None: Playwright's own Chromium


def chat_once(url: str, timings: dict, screenshot: Path) -> dict:
    """One chat turn through the page; returns the answer and its statistics (a
    screenshot of the page is saved to ``screenshot`` when a step fails)."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []

    def on_request(request) -> None:
        local = (urlparse(request.url).hostname or "") in LOCAL_HOSTS
        if not local and not request.url.startswith(("data:", "blob:", "about:")):
            outside.append(request.url)

    with sync_playwright() as pw:
        executable = chromium_path()
        # A system Chromium needs the headless flags; Playwright's own is its headless shell.
        args = CHROMIUM_ARGS if executable else ["--disable-gpu", "--disable-background-networking"]
        browser = pw.chromium.launch(executable_path=executable, args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", on_request)
        try:
            t0 = time.perf_counter()
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#chatbot", timeout=60_000)
            timings["page_render_s"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            page.wait_for_function(
                "document.querySelector('#model-status')?.innerText.trim().startsWith('●')",
                timeout=180_000,
            )
            timings["model_loaded_s"] = round(time.perf_counter() - t0, 2)
            status = page.locator("#model-status").inner_text().strip()
            t0 = time.perf_counter()
            page.locator("#message textarea").fill(MESSAGE)
            page.locator("#send").click()
            page.wait_for_function(
                "(document.querySelector('#turn-stats')?.innerText || '').includes('total')",
                timeout=180_000,
            )
            timings["chat_turn_s"] = round(time.perf_counter() - t0, 2)
            user = page.locator("#chatbot [data-testid=user]").last.inner_text().strip()
            answer = page.locator("#chatbot [data-testid=bot]").last.inner_text().strip()
            stats = page.locator("#turn-stats").inner_text().strip()
        except Exception:
            page.screenshot(path=str(screenshot), full_page=True)
            raise
        finally:
            browser.close()
    if MESSAGE not in user:
        raise SmokeError(f"the sent message is not in the chat (last user message: {user!r})")
    if not answer:
        raise SmokeError("the demo model's answer did not arrive (empty bot message)")
    if outside:
        raise SmokeError(f"the page made requests outside this machine: {outside}")
    return {"model_status": status, "answer": answer[:300], "turn_stats": stats}


def ctrl_c_flags() -> dict:
    """Popen arguments that let :func:`stop` Ctrl+C the app.

    A command started in the background by a non-interactive shell inherits SIGINT
    *ignored*, and Python keeps it ignored: the app would never see Ctrl+C. The app gets
    the default disposition back (Python then turns SIGINT into KeyboardInterrupt, as in
    a terminal). On Windows, Ctrl+Break is sent to the app's own process group.
    """
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)}


def stop(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, float]:
    """Ctrl+C the app; its exit status and how long it took."""
    t0 = time.perf_counter()
    if platform.system() == "Windows":
        proc.send_signal(signal.CTRL_BREAK_EVENT)
    else:
        proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise SmokeError(f"the app did not stop within {timeout:.0f} s of Ctrl+C") from None
    return rc, round(time.perf_counter() - t0, 2)


def serve_and_chat(app: Path, log: Path) -> dict:
    """Steps 2-6, the app's output going to ``log``; returns what was measured (raises
    SmokeError on a failure)."""
    result: dict = {"network_reachable": network_reachable()}
    with tempfile.TemporaryDirectory(prefix="seedchat-smoke-home-") as home:
        env = app_env(Path(home))
        t0 = time.perf_counter()
        result["doctor"] = check_doctor(app, env)
        result["doctor_s"] = round(time.perf_counter() - t0, 2)
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        log.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with log.open("w") as fh:
            proc = subprocess.Popen(
                [str(app / exe_name()), "--debug", "--no-browser", "--port", str(port)],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                **ctrl_c_flags(),
            )
        try:
            wait_for_page(url, proc, log, timeout=120)
            result["start_to_page_s"] = round(time.perf_counter() - t0, 2)
            result.update(chat_once(url, result, log.parent / "smoke-failure.png"))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.poll() is not None:
            raise SmokeError(f"the app exited ({proc.returncode}) during the test:\n{tail(log)}")
        rc, took = stop(proc)
        result.update(exit_status=rc, shutdown_s=took)
        text = log.read_text(errors="replace")
        if "Traceback (most recent call last)" in text:
            raise SmokeError(f"the app logged a traceback:\n{tail(log)}")
        llama_lines = [ln for ln in text.splitlines() if "seedchat.llama_cpp:" in ln]
        if not llama_lines:
            raise SmokeError("no llama.cpp log line reached Python's logging in the bundle")
        result["llama_log_lines"] = len(llama_lines)
        if os.name != "nt" and result.get("exit_status") != 0:
            raise SmokeError(f"the app exited with {result.get('exit_status')} after Ctrl+C")
    return result


# ---- the driver -------------------------------------------------------------------------


def offline_prefix() -> list[str] | None:
    """A command prefix that runs a command with no network but loopback, if allowed here."""
    if platform.system() != "Linux" or not shutil.which("unshare") or not shutil.which("ip"):
        return None
    for flags in (["-n"], ["-rn"]):
        probe = subprocess.run(
            ["unshare", *flags, "ip", "link", "set", "lo", "up"], capture_output=True, timeout=30
        )
        if probe.returncode == 0:
            return ["unshare", *flags, "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-build", action="store_true", help="test the archive already built")
    parser.add_argument(
        "--archive", type=Path, help="the archive to test (default: the last built)"
    )
    parser.add_argument(
        "--dist", type=Path, default=DIST, help="build.py's output folder (dist/bundle/)"
    )
    parser.add_argument("--work", type=Path, help="build.py's work folder (build/bundle/)")
    parser.add_argument("--online", action="store_true", help="do not cut the network off")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)  # the app folder (re-exec)
    args = parser.parse_args(argv)
    dist: Path = args.dist.resolve()
    log = dist / "smoke-app.log"
    if args.inside:  # steps 2-6, possibly inside the network namespace
        try:
            result = serve_and_chat(args.inside, log)
        except SmokeError as err:
            print(json.dumps({"ok": False, "error": str(err)}))
            return 1
        except Exception as exc:  # Playwright's timeouts and the like
            print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
            return 1
        print(json.dumps({"ok": True, **result}))
        return 0

    report: dict = {"platform": f"{platform.system()} {platform.machine()}"}
    started = time.perf_counter()
    try:
        if not args.no_build:
            t0 = time.perf_counter()
            build = [sys.executable, str(HERE / "build.py"), "--dist", str(dist)]
            if args.work:
                build += ["--work", str(args.work)]
            if subprocess.run(build).returncode != 0:
                raise SmokeError("the bundle build failed (see above)")
            report["build_total_s"] = round(time.perf_counter() - t0, 1)
        built_report = dist / "bundle-report.json"
        built = json.loads(built_report.read_text()) if built_report.exists() else {}
        archive = args.archive or Path(built.get("archive", ""))
        if not archive.is_file():
            raise SmokeError("no archive to test: run without --no-build, or pass --archive")
        report.update(archive=str(archive), archive_bytes=archive.stat().st_size, bundle=built)
        with tempfile.TemporaryDirectory(prefix="seedchat-smoke-") as tmp:
            t0 = time.perf_counter()
            app = extract(archive, Path(tmp))
            report["extract_s"] = round(time.perf_counter() - t0, 2)
            prefix = None if args.online else offline_prefix()
            report["offline"] = prefix is not None
            cmd = [
                *(prefix or []),
                sys.executable,
                str(Path(__file__).resolve()),
                "--inside",
                str(app),
                "--dist",
                str(dist),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            lines = proc.stdout.strip().splitlines()
            try:
                inner = json.loads(lines[-1])
            except (IndexError, json.JSONDecodeError):
                raise SmokeError(
                    f"the test run printed no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
                ) from None
            if not inner.pop("ok"):
                raise SmokeError(inner["error"])
            if report["offline"] and inner.get("network_reachable"):
                raise SmokeError("the network was reachable inside the network namespace")
            report.update(inner)
        report.update(ok=True, total_s=round(time.perf_counter() - started, 1))
    except SmokeError as err:
        report.update(ok=False, error=str(err), total_s=round(time.perf_counter() - started, 1))
    report["app_log"] = str(log)
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "smoke-report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    print("SMOKE TEST", "PASSED" if report["ok"] else f"FAILED: {report['error']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
