"""``seedchat doctor``: check that this installation can run, and say what to fix."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import seedchat
from seedchat import backend
from seedchat.errors import BackendError, SeedchatError
from seedchat.models import human_count, human_size, list_models
from seedchat.paths import check_writable, free_bytes, get_paths
from seedchat.settings import load_settings

LOW_DISK_BYTES = 2 * 2**30


class Status(str, Enum):
    OK = "ok"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    hint: str | None = None


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: Status, detail: str, hint: str | None = None) -> None:
        self.checks.append(Check(name, status, detail, hint))

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.FAIL]

    @property
    def ok(self) -> bool:
        return not self.failures


def _check_python(report: Report) -> None:
    v = sys.version_info
    status = Status.OK if v >= (3, 10) else Status.FAIL
    report.add(
        "python",
        status,
        f"{v.major}.{v.minor}.{v.micro} ({sys.executable})",
        None if status is Status.OK else "seedchat needs Python 3.10 or newer.",
    )
    report.add("seedchat", Status.OK, seedchat.__version__)


def _check_backend(report: Report) -> None:
    try:
        info = backend.backend_info()
    except BackendError as err:
        report.add("llama.cpp backend", Status.FAIL, err.message, err.hint)
        return
    report.add("llama.cpp backend", Status.OK, f"llama-cpp-python {info.version}")
    report.add("llama.cpp build", Status.INFO, ", ".join(info.cpu_features) or info.system_info)
    if info.devices:
        report.add("llama.cpp devices", Status.INFO, ", ".join(info.devices))
    gpus = backend.detect_gpus()
    if info.gpu_offload:
        report.add("GPU offload", Status.OK, "available in this build")
    elif gpus:
        report.add(
            "GPU offload",
            Status.WARN,
            "this llama.cpp build runs on the CPU only, but a GPU is present",
            "Rebuild with GPU support: bash packaging/install.sh (CUDA is chosen when nvcc is on PATH).",
        )
    else:
        report.add("GPU offload", Status.INFO, "not available (CPU only)")
    for i, gpu in enumerate(gpus):
        report.add(
            f"GPU {i}",
            Status.INFO,
            f"{gpu.name}: {human_size(gpu.free_bytes)} free of {human_size(gpu.total_bytes)}",
        )
    ram = backend.available_ram_bytes() or backend.total_ram_bytes()
    report.add("memory", Status.INFO, f"{human_size(ram)} available")


def _check_paths(report: Report) -> None:
    paths = get_paths()
    for label, path in (
        ("data dir", paths.data),
        ("config dir", paths.config),
        ("cache dir", paths.cache),
    ):
        problem = check_writable(path)
        if problem:
            report.add(
                label,
                Status.FAIL,
                f"{path} is not writable: {problem}",
                "Fix its permissions, or set SEEDCHAT_HOME to a writable folder.",
            )
            continue
        free = free_bytes(path)
        if free is not None and free < LOW_DISK_BYTES:
            report.add(
                label,
                Status.WARN,
                f"{path} ({human_size(free)} free)",
                "Free some disk space: models and conversions need several GB.",
            )
        else:
            report.add(label, Status.OK, f"{path} ({human_size(free)} free)")


def _check_settings_and_models(report: Report) -> None:
    settings = load_settings()
    for problem in settings.problems:
        report.add("settings", Status.WARN, problem.message, problem.hint)
    if not settings.problems:
        report.add("settings", Status.OK, str(settings.path))
    models = list_models(settings.model_paths)
    good = [m for m in models if m.ok]
    for m in models:
        if m.ok:
            report.add(
                "model",
                Status.INFO,
                f"{m.display_name}: {m.architecture}, {human_count(m.parameters)} params, "
                f"{m.quantization}, {human_size(m.size_bytes)} — {m.path}",
            )
        else:
            report.add(
                "model",
                Status.WARN,
                f"{m.path}: {m.error}",
                "Remove or replace this file; seedchat cannot use it.",
            )
    if not good:
        report.add(
            "models",
            Status.WARN,
            "no usable model found",
            "Download one with 'seedchat pull REPO' (what fits this machine is listed "
            "below), convert one with 'seedchat convert CHECKPOINT', or put a .gguf file in "
            f"{get_paths().models}.",
        )


def _check_what_fits(report: Report) -> None:
    """Which of the catalog's Seed models fit this machine, and how (no network: the
    catalog's sizes, the GPUs and memory read above, the offload planner)."""
    from seedchat.hub.catalog import load_catalog
    from seedchat.hub.recommend import Machine, context_for, recommend

    settings = load_settings()
    try:
        offload: bool | None = backend.backend_info().gpu_offload
    except BackendError:
        offload = None
    machine = Machine.detect(offload)
    context = context_for(settings)
    report.add("what fits", Status.INFO, f"{machine.describe()}; at a context of {context}")
    for model in load_catalog():
        rec = recommend(
            model.quant_bytes.items(),
            model.architecture,
            machine,
            context,
            settings.get("kv_cache_type"),
        )
        best = rec.best
        if best is None:
            smallest = rec.fits[0]
            detail = (
                f"does not fit (the smallest, {smallest.quant} of "
                f"{human_size(smallest.size_bytes)}, {smallest.text.removeprefix('does not fit ')})"
            )
        else:
            spec = model.pull_spec(best.quant)
            get = (
                f"seedchat pull {spec}"
                if spec
                else f"seedchat convert {model.source_repo} --quant {best.quant}"
            )
            detail = f"{best.quant} ({human_size(best.size_bytes)}) {best.text} — {get}"
        report.add(model.name, Status.INFO, detail)


def _check_conversations(report: Report) -> None:
    """The conversation database: readable, ours, undamaged (a full page check)."""
    from seedchat.store import DatabaseCorruptError, Store

    path = get_paths().database
    if not path.exists():
        report.add("conversations", Status.INFO, f"none yet ({path} is made on the first chat)")
        return
    with Store(path) as store:  # raises StoreError (foreign, newer, damaged): a FAIL
        # a small file was checked page by page on open already; a large one is here
        problem = "ok" if store.checked_on_open else store.check()
        if problem != "ok":
            err = DatabaseCorruptError(path, problem)
            report.add("conversations", Status.FAIL, err.message, err.hint)
            return
        count = store.count_conversations()
    size = human_size(path.stat().st_size)
    report.add("conversations", Status.OK, f"{count} saved, {size} — {path}")


def _check_kv_snapshots(report: Report) -> None:
    """The saved KV states (instant reopen): cache, not data; how much disk they take."""
    from seedchat.engine.kv_files import cache_usage

    budget = load_settings().get("kv_cache_disk_gb")
    usage = cache_usage()
    if not budget:
        detail = "off (kv_cache_disk_gb is 0)"
        if usage.files:
            detail += f"; {human_size(usage.bytes)} left from before — {usage.path}"
        report.add("saved KV states", Status.INFO, detail)
        return
    report.add(
        "saved KV states",
        Status.INFO,
        f"{human_size(usage.bytes)} in {usage.files} files for {usage.models} models, of "
        f"{budget:g} GB allowed (kv_cache_disk_gb) — {usage.path}",
    )


CHECKS: list[Callable[[Report], None]] = [
    _check_python,
    _check_backend,
    _check_paths,
    _check_settings_and_models,
    _check_what_fits,
    _check_conversations,
    _check_kv_snapshots,
]


def run_doctor() -> Report:
    """Run every check; never raises for a problem it can describe."""
    report = Report()
    for check in CHECKS:
        try:
            check(report)
        except SeedchatError as err:
            report.add(check.__name__.removeprefix("_check_"), Status.FAIL, err.message, err.hint)
    return report
