"""``seedchat pull``'s work: a GGUF model from a hub repository into the models folder.

:func:`pull` lists the repository, picks the file (a quantization named ``REPO:QUANT``,
a ``--file``, or else the one :mod:`seedchat.hub.recommend` says fits this machine best),
checks the free disk, downloads every part (resuming what an earlier attempt left),
verifies each against the hub's sha256, and only then renames them into place, so
``seedchat models`` and the UI never see half a file. Progress comes as
:class:`PullProgress` reports with speed and time left; ``cancel`` stops it (the
downloaded part is kept for the next attempt).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from seedchat.hub.catalog import Architecture, find_model
from seedchat.hub.download import (
    Locate,
    PartInfo,
    fetch,
    file_location,
    part_paths,
    resumable_bytes,
    start_part,
    verify,
)
from seedchat.hub.errors import NotEnoughDisk, NothingFits, PullError
from seedchat.hub.header import remote_architecture
from seedchat.hub.recommend import DEFAULT_CONTEXT, Machine, Recommendation, recommend
from seedchat.hub.repo import (
    GgufOption,
    RemoteFile,
    RepoListing,
    choose,
    hub_errors,
    list_repo,
    parse_spec,
)
from seedchat.models import human_size
from seedchat.paths import free_bytes, get_paths

log = logging.getLogger(__name__)

DISK_MARGIN = 256 * 2**20  # left free on the disk after a download
REPORT_EVERY = 0.25  # seconds between progress reports
SPEED_WINDOW = 5.0  # seconds of transfer the speed is measured over


@dataclass(frozen=True)
class PullProgress:
    stage: str  # "download" | "verify" | "done"
    file: str
    part: int  # 1-based, of ``parts``
    parts: int
    done: int  # bytes: downloaded of the whole model ("verify": checked of this file)
    total: int
    speed: float = 0.0  # bytes per second, recent
    eta: float | None = None  # seconds left
    resumed: int = 0  # bytes that were already there when this download started

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass(frozen=True)
class PullResult:
    path: Path  # the file to load (the first part of a split model)
    repo: str
    option: GgufOption
    fetched: int  # bytes downloaded now
    resumed: int  # bytes an earlier attempt had downloaded
    already: bool = False  # it was all there already


#: Told each throttled report of a download.
PullProgressFn = Callable[[PullProgress], None]


class _Meter:
    """Bytes counted into throttled :class:`PullProgress` reports with speed and ETA."""

    def __init__(self, progress: PullProgressFn | None, total: int, done: int, parts: int) -> None:
        self.progress, self.total, self.done, self.parts = progress, total, done, parts
        self.resumed = done
        self.file, self.part = "", 0
        self.samples: deque[tuple[float, int]] = deque([(time.monotonic(), done)])
        self.last = 0.0

    def speed(self) -> float:
        now = time.monotonic()
        while len(self.samples) > 2 and now - self.samples[1][0] > SPEED_WINDOW:
            self.samples.popleft()
        start, done = self.samples[0]
        return (self.done - done) / (now - start) if now > start else 0.0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        self.samples.append((now, self.done))
        if now - self.last >= REPORT_EVERY:
            self.report("download")

    def checker(self, size: int) -> Callable[[int], None]:
        """A byte counter for the sha256 check of one file of ``size`` bytes."""
        checked = [0]

        def on_bytes(n: int) -> None:
            checked[0] += n
            if checked[0] >= size or time.monotonic() - self.last >= REPORT_EVERY:
                self.report("verify", checked[0], size)

        return on_bytes

    def report(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        self.last = time.monotonic()
        if self.progress is None:
            return
        speed = self.speed() if stage == "download" else 0.0
        left = self.total - self.done
        self.progress(
            PullProgress(
                stage=stage,
                file=self.file,
                part=self.part,
                parts=self.parts,
                done=self.done if done is None else done,
                total=self.total if total is None else total,
                speed=speed,
                eta=left / speed if speed > 0 else None,
                resumed=self.resumed,
            )
        )


def models_folder(out_dir: Path | str | None = None) -> Path:
    folder = Path(out_dir).expanduser() if out_dir else get_paths().models
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_disk(folder: Path, needed: int) -> None:
    free = free_bytes(folder)
    if free is not None and free < needed + DISK_MARGIN:
        raise NotEnoughDisk(
            f"Not enough disk space: the download needs {human_size(needed)} more, and "
            f"{folder} has {human_size(free)} free.",
            hint="Free some space, or download to another disk with -o DIR (then load it "
            "with --model PATH, or add DIR to 'model_paths' in settings.json).",
        )


def architecture_for(listing: RepoListing) -> Architecture:
    """The model's architecture: from the catalog if it knows the repository, else read
    from the start of its smallest file."""
    known = find_model(listing.repo)
    if known is not None:
        return known.architecture
    return remote_architecture(listing, listing.options[0])


def labels(listing: RepoListing) -> dict[str, GgufOption]:
    """Each option by its quantization (by its file name where two share one)."""
    quants = [o.quant for o in listing.options]
    return {(o.quant if quants.count(o.quant) == 1 else o.name): o for o in listing.options}


def recommend_listing(
    listing: RepoListing,
    machine: Machine | None = None,
    context: int = DEFAULT_CONTEXT,
    kv_cache_type: str = "f16",
) -> Recommendation:
    """What of ``listing`` fits ``machine`` (this one by default)."""
    if not listing.options:
        raise PullError(f"{listing.repo} holds no GGUF file.", hint="Try another repository.")
    architecture = architecture_for(listing)
    sizes = [(label, o.size_bytes) for label, o in labels(listing).items()]
    return recommend(sizes, architecture, machine or Machine.detect(), context, kv_cache_type)


def select(
    listing: RepoListing,
    quant: str | None = None,
    file: str | None = None,
    machine: Machine | None = None,
    recommendation: Recommendation | None = None,
) -> GgufOption:
    """The file asked for, else the one that fits this machine best (``recommendation``
    when it was made already)."""
    if quant or file:
        return choose(listing, quant, file)
    rec = recommendation or recommend_listing(listing, machine)
    if rec.best is None:
        smallest = rec.fits[0]
        raise NothingFits(
            f"None of {listing.repo}'s files fits this machine ({rec.machine.describe()}): "
            f"the smallest, {smallest.quant} ({human_size(smallest.size_bytes)}), "
            f"{smallest.text}.",
            hint=f"Choose one anyway with {listing.repo}:QUANT, or a smaller model "
            "(e.g. seedchat pull unsloth/Seed-Coder-8B-Instruct-GGUF).",
        )
    return labels(listing)[rec.best.quant]


def _locator(listing: RepoListing, remote: RemoteFile) -> Locate:
    """Where to download ``remote`` from: asked of the hub now (so that a refusal comes
    before anything is written), and again for each resumed attempt."""
    first = [file_location(listing.repo, remote, listing.revision)]

    def locate() -> tuple[str, dict[str, str]]:
        return first.pop() if first else file_location(listing.repo, remote, listing.revision)

    return locate


def download(
    listing: RepoListing,
    option: GgufOption,
    out_dir: Path | str | None = None,
    progress: PullProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> PullResult:
    """Download every part of ``option`` into ``out_dir`` (the models folder)."""
    folder = models_folder(out_dir)
    finals = [folder / f.name for f in option.files]
    todo, done = [], 0
    for remote, final in zip(option.files, finals, strict=True):
        if final.exists():
            if final.stat().st_size == remote.size:
                done += remote.size
                continue  # already here
            raise PullError(
                f"{final} already exists and is not {listing.repo}'s {remote.name} "
                f"({final.stat().st_size} bytes, not {remote.size}).",
                hint="Move it away, or download to another folder with -o DIR.",
            )
        info = PartInfo(listing.repo, remote.path, remote.size, remote.sha256, listing.revision)
        have = resumable_bytes(final, info)
        done += have
        todo.append((remote, final, info, have))
    if not todo:
        return PullResult(finals[0], listing.repo, option, 0, 0, already=True)
    check_disk(folder, sum(r.size - have for r, _, _, have in todo))
    meter = _Meter(progress, option.size_bytes, done, len(option.files))
    for remote, final, info, _ in todo:
        meter.file, meter.part = remote.name, option.files.index(remote) + 1
        locate = _locator(listing, remote)  # a refused file fails here, leaving nothing
        start_part(final, info)
        with hub_errors(listing.repo, remote.path):
            fetch(locate, part_paths(final)[0], remote.size, meter.add, cancel)
        meter.report("download")
        verify(final, remote, listing.repo, meter.checker(remote.size), cancel)
    for _, final, _, _ in reversed(todo):  # the first part (the one a loader opens) last
        part, meta = part_paths(final)
        os.replace(part, final)
        meta.unlink(missing_ok=True)
    meter.report("done")
    log.info("downloaded %s/%s to %s", listing.repo, option.name, finals[0])
    return PullResult(finals[0], listing.repo, option, meter.done - meter.resumed, meter.resumed)


def pull(
    spec: str,
    quant: str | None = None,
    file: str | None = None,
    out_dir: Path | str | None = None,
    revision: str | None = None,
    machine: Machine | None = None,
    progress: PullProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> PullResult:
    """``seedchat pull REPO[:QUANT]`` as a function: list, pick, download, verify."""
    repo, spec_quant = parse_spec(spec)
    listing = list_repo(repo, revision)
    option = select(listing, quant or spec_quant, file, machine)
    return download(listing, option, out_dir, progress, cancel)
