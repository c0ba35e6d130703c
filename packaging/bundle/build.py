"""Build seedchat's one-click bundle: a PyInstaller one-folder app, archived.

    python packaging/bundle/build.py               # -> dist/bundle/seedchat/ (the app folder)
                                                   #    dist/bundle/seedchat-<version>-<os>-<arch>.tar.gz|.zip
    python packaging/bundle/build.py --no-archive  # only the folder

The bundle holds Python, seedchat (with the demo model), llama.cpp's shared libraries
as installed in the running environment (so the backend chosen by packaging/install.sh:
CPU, CUDA or Metal), gradio with its built frontend, and a launcher (launcher.py) that
starts the web UI and opens the browser. Run it with the Python of an environment where
seedchat's dependencies and PyInstaller are installed (``bash packaging/install.sh --dev``,
or ``pip install .[bundle]``).

The result is archived as tar.gz on Linux and zip elsewhere. The build time, the folder
and archive sizes are printed and written to ``dist/bundle/bundle-report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# Modules that must never end up in the bundle (they make it gigabytes).
FORBIDDEN = ("torch", "transformers")


class BuildError(Exception):
    """A build step failed; the message says which and what to do."""


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def version() -> str:
    for line in (REPO / "seedchat" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise BuildError("seedchat/__init__.py has no __version__ line")


def platform_tag() -> str:
    system = {"Darwin": "macos", "Windows": "windows"}.get(
        platform.system(), platform.system().lower()
    )
    machine = platform.machine().lower().replace("amd64", "x86_64").replace("aarch64", "arm64")
    return f"{system}-{machine}"


def check_environment() -> None:
    missing = []
    for module in ("PyInstaller", "llama_cpp", "gradio", "seedchat"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
        except OSError as exc:  # llama_cpp's shared library did not load
            raise BuildError(f"llama_cpp is installed but does not load: {exc}") from exc
    if missing:
        raise BuildError(
            f"this Python ({sys.executable}) lacks {', '.join(missing)}; build with "
            "'.venv/bin/python packaging/bundle/build.py' after 'bash packaging/install.sh "
            "--dev', or in an environment with 'pip install .[bundle]'"
        )


def check_demo_model() -> None:
    """The demo model ships in the bundle: it must have been built."""
    if not list((REPO / "seedchat" / "data" / "demo").glob("*.gguf")):
        raise BuildError(
            "the demo model is missing from seedchat/data/demo; build it with "
            "'python packaging/demo_model/build.py'"
        )


def run_pyinstaller(dist: Path, work: Path) -> None:
    env = dict(os.environ)
    # The source tree is the installed layout: it comes first, for the spec's collect_*
    # calls and for the analysis.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        str(HERE / "seedchat.spec"),
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
    ]
    print("$", " ".join(cmd), flush=True)
    if subprocess.run(cmd, env=env, cwd=REPO).returncode != 0:
        raise BuildError("PyInstaller failed (see its output above)")


def check_bundle(app: Path) -> None:
    internal = app / "_internal"
    root = internal if internal.is_dir() else app
    if not list(root.glob("seedchat/data/demo/*.gguf")):
        raise BuildError(f"the demo model is not in the bundle ({root}/seedchat/data/demo)")
    if not (root / "gradio" / "templates" / "frontend").is_dir():
        raise BuildError("gradio's frontend (gradio/templates/frontend) is not in the bundle")
    libs = [p.name for p in (root / "llama_cpp" / "lib").glob("*") if p.is_file()]
    if not any("llama" in name for name in libs):
        raise BuildError(f"llama.cpp's shared library is not in the bundle ({root}/llama_cpp/lib)")
    for name in FORBIDDEN:
        if (root / name).exists():
            raise BuildError(f"{name} ended up in the bundle; it must be excluded in seedchat.spec")


#: gzip's own default: shutil.make_archive's level 9 took 64 s for a 0.4 % smaller archive
#: than level 6's 28 s (669 MiB of app, 2 cores)
GZIP_LEVEL = 6


def archive(app: Path, dist: Path, name: str) -> Path:
    """``<name>.tar.gz`` on Linux (gzip level 6), ``<name>.zip`` elsewhere."""
    if platform.system() != "Linux":
        return Path(shutil.make_archive(str(dist / name), "zip", app.parent, app.name))
    path = dist / f"{name}.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=GZIP_LEVEL) as tar:
        tar.add(app, arcname=app.name)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dist",
        type=Path,
        default=REPO / "dist" / "bundle",
        help="output folder (default dist/bundle/)",
    )
    parser.add_argument(
        "--work", type=Path, default=REPO / "build" / "bundle", help="PyInstaller's work folder"
    )
    parser.add_argument("--no-archive", action="store_true", help="only build the folder")
    args = parser.parse_args(argv)
    try:
        check_environment()
        started = time.perf_counter()
        check_demo_model()
        run_pyinstaller(args.dist, args.work)
        app = args.dist / "seedchat"
        check_bundle(app)
        build_s = time.perf_counter() - started
        report = {
            "version": version(),
            "platform": platform_tag(),
            "python": platform.python_version(),
            "build_seconds": round(build_s, 1),
            "folder": str(app),
            "folder_bytes": folder_bytes(app),
            "files": sum(1 for p in app.rglob("*") if p.is_file()),
        }
        print(
            f"bundle: {app} ({mib(report['folder_bytes'])}, {report['files']} files), "
            f"built in {build_s:.0f} s"
        )
        if not args.no_archive:
            t0 = time.perf_counter()
            path = archive(app, args.dist, f"seedchat-{report['version']}-{report['platform']}")
            report.update(
                archive=str(path),
                archive_bytes=path.stat().st_size,
                archive_seconds=round(time.perf_counter() - t0, 1),
            )
            print(
                f"archive: {path} ({mib(report['archive_bytes'])}), "
                f"made in {report['archive_seconds']:.0f} s"
            )
        (args.dist / "bundle-report.json").write_text(json.dumps(report, indent=2) + "\n")
    except BuildError as err:
        print(f"build.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
