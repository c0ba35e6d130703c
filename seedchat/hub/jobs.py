"""Downloads that run in the background of the app, for a page to poll and cancel.

A :class:`DownloadJob` runs :func:`seedchat.hub.pulling.pull` in a thread of its own and
keeps its latest progress report, its result or its error; :class:`Downloads` holds the
jobs of one app (one per repository at a time), so a page that reloads finds its
download still running. :func:`partial_downloads` lists what interrupted downloads left
in the models folder, so the page can offer to resume them after a restart.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from seedchat.errors import SeedchatError
from seedchat.hub.download import read_part_info
from seedchat.hub.errors import PullCancelled
from seedchat.hub.pulling import PullProgress, PullResult, pull
from seedchat.hub.repo import parse_spec
from seedchat.paths import get_paths

log = logging.getLogger(__name__)


class DownloadJob:
    """One ``pull`` in a background thread."""

    def __init__(self, spec: str, quant: str | None = None, out_dir: Path | None = None) -> None:
        self.spec, self.quant, self.out_dir = spec, quant, out_dir
        self.repo = parse_spec(spec)[0]
        self.cancel_event = threading.Event()
        self.progress: PullProgress | None = None
        self.result: PullResult | None = None
        self.error: SeedchatError | None = None
        self.state = "starting"  # starting, running, done, failed, cancelled
        self._thread = threading.Thread(target=self._run, name="seedchat-pull", daemon=True)

    def start(self) -> DownloadJob:
        self._thread.start()
        return self

    def _report(self, report: PullProgress) -> None:
        self.progress = report
        self.state = "running"

    def _run(self) -> None:
        try:
            self.result = pull(
                self.spec,
                quant=self.quant,
                out_dir=self.out_dir,
                progress=self._report,
                cancel=self.cancel_event,
            )
            self.state = "done"
        except PullCancelled as err:
            self.error, self.state = err, "cancelled"
        except SeedchatError as err:
            self.error, self.state = err, "failed"
        except Exception as exc:  # a bug must still reach the page
            log.exception("download of %s failed", self.spec)
            self.error, self.state = SeedchatError(f"The download failed: {exc}"), "failed"

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running")

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


class Downloads:
    """The download jobs of one app, into its models folder (the one in force when the
    app starts, by default)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or get_paths().models
        self._lock = threading.Lock()
        self._jobs: dict[str, DownloadJob] = {}
        self.latest: DownloadJob | None = None

    def start(self, spec: str, quant: str | None = None) -> DownloadJob:
        """Start downloading ``spec`` (or return its download if one is running)."""
        repo = parse_spec(spec)[0].lower()
        with self._lock:
            job = self._jobs.get(repo)
            if job is None or not job.running:
                job = self._jobs[repo] = DownloadJob(spec, quant, self.folder).start()
            self.latest = job
            return job

    def get(self, repo: str) -> DownloadJob | None:
        with self._lock:
            return self._jobs.get(repo.lower())


@dataclass(frozen=True)
class PartialDownload:
    """What an interrupted download left: ``have`` of ``size`` bytes of one file."""

    repo: str
    path: str
    have: int
    size: int


def partial_downloads(folder: Path | None = None) -> list[PartialDownload]:
    """The unfinished downloads in ``folder`` (the models folder)."""
    folder = folder or get_paths().models
    found = []
    for meta in sorted(folder.glob(".*.part.json")) if folder.is_dir() else []:
        info = read_part_info(meta)
        part = meta.with_name(meta.name.removesuffix(".json"))
        if info is not None and part.exists():
            found.append(PartialDownload(info.repo, info.path, part.stat().st_size, info.size))
    return found
