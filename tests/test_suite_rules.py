"""The test suite's own rules: a test module never imports another (what tests share lives
in conftest.py or a helper module), every run reports its slowest tests, and the
distribution tests are left out of a plain ``pytest`` and run as CI's own step."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CI = REPO / ".ci" / "run"
DISTRIBUTION = ("tests/test_distribution.py", "tests/test_bundle.py")
DISTRIBUTION_STEP = f".venv/bin/python -m pytest -n 2 -m distribution {' '.join(DISTRIBUTION)}"


def imported_test_modules(path: Path) -> set[str]:
    """The test modules (``test_*``) that the module at ``path`` imports, anywhere in it:
    ``import test_x``, ``from tests.test_x import …``, ``from tests import test_x``,
    ``from . import test_x``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the tests/ folder
                base = f"tests.{base}" if base else "tests"
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {n.split(".")[-1] for n in names if n and _is_test_module(n)}
    return found


def _is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[-1].startswith("test_") and (len(parts) == 1 or parts[-2] == "tests")


def test_no_test_module_imports_another():
    offenders = {
        path.name: sorted(found)
        for path in sorted(TESTS.glob("test_*.py"))
        if (found := imported_test_modules(path))
    }
    assert offenders == {}, "move what test modules share into conftest.py or a helper module"


def test_an_import_of_a_test_module_is_found(tmp_path):
    planted = tmp_path / "test_planted.py"
    planted.write_text(
        "import json\n"
        "from conftest import REPO\n"
        "from tests.browser import send\n"
        "from tests.test_engine import common_prefix\n"
        "import test_models\n"
        "from tests import test_remote as remote\n"
        "from . import test_api\n"
        "def later():\n"
        "    from test_ui_launch import free_run\n"
    )
    assert imported_test_modules(planted) == {
        "test_engine",
        "test_models",
        "test_remote",
        "test_api",
        "test_ui_launch",
    }


def test_every_run_reports_its_25_slowest_tests(pytestconfig):
    assert "--durations=25" in pytestconfig.getini("addopts")


def _collect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_distribution_tests_are_only_in_their_own_ci_step():
    plain = _collect(*DISTRIBUTION)  # as the README's `pytest` sees them
    assert plain.returncode == 5, plain.stdout + plain.stderr  # none selected
    step = _collect("-m", "distribution", *DISTRIBUTION)
    assert step.returncode == 0, step.stdout + step.stderr
    assert "test_bundle_builds_starts_offline_answers_and_stops" in step.stdout
    assert "test_fresh_venv_passes_doctor_with_the_demo_model" in step.stdout
    # .ci/run runs them after the README's command; only that module carries the marker
    ci = CI.read_text(encoding="utf-8")
    assert DISTRIBUTION_STEP in ci
    assert ci.index('step "README test command') < ci.index(DISTRIBUTION_STEP)
    marked = [
        p.name
        for p in TESTS.glob("test_*.py")
        if "mark.distribution" in p.read_text(encoding="utf-8") and p != Path(__file__)
    ]
    assert sorted(marked) == sorted(Path(m).name for m in DISTRIBUTION)


def test_the_modules_that_drive_the_page_share_one_worker_and_go_first(monkeypatch):
    """Under pytest-xdist (tests/workers.py): a worker lists the modules that use the
    browser and puts them first; the controller gives them all one scope, and every other
    module a scope of its own."""
    from types import SimpleNamespace

    from workers import PAGE, PageScheduling, note_page_modules

    def item(nodeid: str, *fixtures: str) -> SimpleNamespace:
        return SimpleNamespace(nodeid=nodeid, fixturenames=list(fixtures))

    items = [
        item("tests/test_a.py::test_1", "tmp_path"),
        item("tests/test_ui_x.py::test_1", "app"),
        item("tests/test_ui_x.py::test_2", "page", "browser"),
        item("tests/test_b.py::test_1"),
        item("tests/test_ui_y.py::test_1", "browser"),
    ]
    monkeypatch.setattr("os.getppid", lambda: 4242)  # the workers' parent: the controller
    note_page_modules(items)
    assert [i.nodeid for i in items] == [
        "tests/test_ui_x.py::test_1",
        "tests/test_ui_x.py::test_2",
        "tests/test_ui_y.py::test_1",
        "tests/test_a.py::test_1",
        "tests/test_b.py::test_1",
    ]
    monkeypatch.setattr("os.getpid", lambda: 4242)
    scheduler = PageScheduling.__new__(PageScheduling)  # only its scopes are asked here
    scopes = [scheduler._split_scope(i.nodeid) for i in items]
    assert scopes == [PAGE, PAGE, PAGE, "tests/test_a.py", "tests/test_b.py"]
