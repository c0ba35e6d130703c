"""Getting a real model from the page: the first-run panel and the hub download box.

- :class:`FirstRunPanel`, above the chat while the bundled demo model is loaded: "This is
  a tiny demo model. Get a real one:", each Seed model of the catalog with its size and
  how it fits this machine (the catalog's sizes and the offload planner: nothing is asked
  of the network until a button is pressed), a Download button (progress, cancel; an
  interrupted download resumes, after a restart too) and "Convert from the original
  weights" (the Convert tab, filled in). It can be dismissed (remembered in the browser).
- :class:`HubBox`, in the Models tab: "Download from the hub" for any ``REPO[:QUANT]``,
  with what the repository offers and what fits.

Downloads are background jobs of :mod:`seedchat.hub` (one per repository, shared by every
page of the app); a timer polls the one this page started while it runs. When it is done,
"Load it" loads the new model with one click.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from seedchat.engine.host import ModelHost
from seedchat.errors import SeedchatError
from seedchat.hub import (
    DownloadJob,
    Downloads,
    Machine,
    PartialDownload,
    PullProgress,
    Recommendation,
    list_repo,
    parse_spec,
    partial_downloads,
    recommend,
    recommend_listing,
)
from seedchat.hub.catalog import CatalogModel, load_catalog
from seedchat.hub.repo import quant_of
from seedchat.models import demo_model, human_size
from seedchat.ui.convert_tab import progress_html
from seedchat.ui.models_tab import status_markdown
from seedchat.ui.updates import error_update

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
DISMISSED_KEY = "seedchat-first-run-dismissed"


@dataclass
class DownloadTargets:
    """Parts of the page a download updates: the header's model line, the error box, the
    Models tab's picker (and its list), the tabs and the Convert tab's source box."""

    model_status: Any
    error_box: Any
    picker: Any
    choices: Callable[[], list]
    tabs: Any
    convert_source: Any


def describe(job: DownloadJob) -> tuple[float, str]:
    """(fraction, caption) of a download job, for the progress bar."""
    p: PullProgress | None = job.progress
    if job.state == "done" and job.result is not None:
        return (
            1.0,
            f"Downloaded {job.result.path.name} ({human_size(job.result.option.size_bytes)}).",
        )
    if job.state in ("failed", "cancelled"):
        word = "Cancelled" if job.state == "cancelled" else "Stopped"
        if p is None or not p.done:
            return 0.0, f"{word}."
        kept = f"{human_size(p.done)} of {human_size(p.total)}"
        return p.fraction, f"{word}: {kept} is kept; downloading again resumes there."
    if p is None:
        return 0.0, f"Starting the download of {job.spec}…"
    if p.stage == "verify":
        return p.fraction, f"Checking the sha256 of {p.file}: {p.fraction:.0%}"
    part = f" (part {p.part} of {p.parts})" if p.parts > 1 else ""
    caption = f"Downloading {p.file}{part}: {human_size(p.done)} of {human_size(p.total)}"
    if p.speed:
        caption += f" · {human_size(p.speed)}/s"
    if p.eta is not None:
        caption += f" · {_duration(p.eta)} left"
    if p.resumed:
        caption += f" · resumed at {human_size(p.resumed)}"
    return p.fraction, caption


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _DownloadView:
    """What both download places share: a progress bar polled while this page's job
    runs, Cancel, and "Load it" when the job is done."""

    prefix = "download"

    def __init__(self, host: ModelHost, downloads: Downloads) -> None:
        self.host, self.downloads = host, downloads
        self.job_repo = gr.State(None)  # the repository of this page's download

    def _controls(self) -> None:
        self.progress = gr.HTML("", elem_id=f"{self.prefix}-progress")
        with gr.Row():
            self.cancel = gr.Button(
                "Cancel download", visible=False, size="sm", elem_id=f"{self.prefix}-cancel"
            )
            self.load = gr.Button(
                "Load it", visible=False, variant="primary", elem_id=f"{self.prefix}-load"
            )
        self.timer = gr.Timer(POLL_SECONDS, active=False)

    def started(self, job: DownloadJob) -> dict[Any, Any]:
        return {
            self.job_repo: job.repo,
            self.timer: gr.Timer(active=True),
            self.progress: progress_html(*describe(job)),
            self.cancel: gr.update(visible=True),
            self.load: gr.update(visible=False),
        }

    def poll(self, repo: str | None) -> dict[Any, Any]:
        """The progress of this page's download; at its end, what follows."""
        job = self.downloads.get(repo) if repo else None
        if job is None:
            return {self.timer: gr.Timer(active=False)}
        updates: dict[Any, Any] = {self.progress: progress_html(*describe(job))}
        if job.running:
            return updates
        updates.update({self.timer: gr.Timer(active=False), self.cancel: gr.update(visible=False)})
        if job.state == "done" and job.result is not None:
            updates[self.load] = gr.update(visible=True, value=f"Load {job.result.path.stem}")
            updates[self.targets.picker] = gr.update(choices=self.targets.choices())
        elif job.state == "failed":
            updates[self.targets.error_box] = error_update(job.error)
        return updates

    def cancel_job(self, repo: str | None) -> None:
        job = self.downloads.get(repo) if repo else None
        if job is not None:
            job.cancel()

    def load_result(self, repo: str | None) -> dict[Any, Any]:
        """Load the model this page downloaded."""
        job = self.downloads.get(repo) if repo else None
        status, error_box = self.targets.model_status, self.targets.error_box
        if job is None or job.result is None:
            return {error_box: error_update("Nothing was downloaded here yet.")}
        try:
            self.host.load(job.result.path)
        except SeedchatError as err:
            return {status: status_markdown(self.host), error_box: error_update(err)}
        return {
            status: status_markdown(self.host),
            error_box: error_update(None),
            self.load: gr.update(visible=False),
            self.progress: progress_html(1.0, f"Loaded {job.result.path.name}."),
            self.targets.picker: gr.update(value=str(job.result.path)),
        }

    def _wire_controls(self, targets: DownloadTargets) -> None:
        self.targets = targets
        polled = [
            self.timer,
            self.progress,
            self.cancel,
            self.load,
            targets.picker,
            targets.error_box,
        ]
        self.timer.tick(self.poll, self.job_repo, polled, queue=False)
        self.cancel.click(self.cancel_job, self.job_repo, None, queue=False)
        self.load.click(
            self.load_result,
            self.job_repo,
            [targets.model_status, targets.error_box, self.load, self.progress, targets.picker],
            concurrency_id="load",
            concurrency_limit=1,
        )


def demo_loaded(host: ModelHost) -> bool:
    """Whether the model loaded (or loading) is the bundled demo."""
    info, loading = host.info, host.loading
    if loading is not None:
        return loading == demo_model()
    return info is not None and info.is_demo


#: The first-run panel's one line (its offers open below it)
OFFERS_LABEL = "A tiny demo model: get a real one"


class FirstRunPanel(_DownloadView):
    """The panel above the chat while the demo model is loaded (call inside the column)."""

    prefix = "first-run"

    def __init__(self, host: ModelHost, downloads: Downloads) -> None:
        super().__init__(host, downloads)
        self.catalog = list(load_catalog())
        self._machine: Machine | None = None
        self.dismissed = gr.BrowserState(False, storage_key=DISMISSED_KEY)
        self.rows: dict[str, tuple[Any, Any, Any]] = {}
        with gr.Column(visible=False, variant="panel", elem_id="first-run") as self.box:
            # one line when closed: a phone's page starts with it closed (theme.DRAWERS_JS)
            with gr.Row(elem_id="first-run-head"):
                with gr.Accordion(OFFERS_LABEL, open=True, elem_id="first-run-offers"):
                    for model in self.catalog:
                        if model.kind == "chat":
                            self._row(model)
                    with gr.Accordion("Base models (text completion, not chat)", open=False):
                        for model in self.catalog:
                            if model.kind != "chat":
                                self._row(model)
                self.dismiss = gr.Button(
                    "✕", size="sm", scale=0, min_width=40, elem_id="first-run-dismiss"
                )
            self._controls()

    def _row(self, model: CatalogModel) -> None:
        with gr.Row(elem_classes=["first-run-model"]):
            text = gr.Markdown(f"**{model.name}**", elem_id=f"first-run-{model.id}")
            with gr.Column(scale=0, min_width=230):
                get = gr.Button(
                    "Download",
                    size="sm",
                    variant="primary",
                    visible=bool(model.gguf_repo),
                    elem_id=f"download-{model.id}",
                )
                convert = gr.Button(
                    "Convert from the original weights", size="sm", elem_id=f"convert-{model.id}"
                )
        self.rows[model.id] = (text, get, convert)

    def machine(self) -> Machine:
        if self._machine is None:
            self._machine = Machine.detect()
        return self._machine

    def fit(self, model: CatalogModel) -> Recommendation:
        return recommend(model.quant_bytes.items(), model.architecture, self.machine())

    def quant_for(self, model: CatalogModel) -> str:
        best = self.fit(model).best
        return best.quant if best is not None else model.default_quant

    def partial(self, model: CatalogModel) -> PartialDownload | None:
        """What an interrupted download of ``model`` left, if anything."""
        kept = partial_downloads(self.downloads.folder)
        return next((p for p in kept if model.holds(p.repo) and quant_of(p.path) != "?"), None)

    def row_text(self, model: CatalogModel, kept: PartialDownload | None) -> str:
        """The model, the file for this machine (or the one being downloaded), its fit."""
        rec = self.fit(model)
        best = rec.fit_for(quant_of(kept.path)) if kept else None
        best = best or rec.best or rec.fit_for(model.default_quant)
        line = f"**{model.name}** · {html.escape(model.summary)}"
        if best is not None:
            fit = best.text if best.fits else "does not fit this machine"
            line += f"  \n{best.quant} · {human_size(best.size_bytes)} · {fit}"
        if kept is not None:
            line += f" · {human_size(kept.have)} of {human_size(kept.size)} downloaded"
        return line

    def shown(self, dismissed: bool | None) -> dict[Any, Any]:
        """The panel as this page opens: shown while the demo model is loaded."""
        visible = demo_loaded(self.host) and not dismissed
        updates: dict[Any, Any] = {self.box: gr.update(visible=visible)}
        if not visible:
            return updates
        for model in self.catalog:
            text, get, _ = self.rows[model.id]
            kept = self.partial(model)
            updates[text] = self.row_text(model, kept)
            updates[get] = gr.update(value="Resume download" if kept else "Download")
        job = self.downloads.latest
        if job is not None and job.running:  # a download this app runs: show it here too
            updates.update(self.started(job))
        return updates

    def spec_for(self, model: CatalogModel) -> str:
        """What Download fetches: the file an interrupted download of this model left (to
        resume it), else the quantization that fits this machine best."""
        kept = self.partial(model)
        quant = quant_of(kept.path) if kept else self.quant_for(model)
        return f"{model.gguf_repo}:{quant}"

    def start_download(self, model: CatalogModel) -> Callable[[], dict[Any, Any]]:
        def start() -> dict[Any, Any]:
            try:
                job = self.downloads.start(self.spec_for(model))
            except SeedchatError as err:
                return {self.targets.error_box: error_update(err)}
            return {**self.started(job), self.targets.error_box: error_update(None)}

        return start

    def open_convert(self, model: CatalogModel) -> Callable[[], tuple[Any, Any]]:
        return lambda: (gr.Tabs(selected="convert"), model.source_repo)

    def wire(self, demo: gr.Blocks, targets: DownloadTargets) -> None:
        self._wire_controls(targets)
        page = [self.box, *(c for row in self.rows.values() for c in row[:2])]
        page += [self.job_repo, self.timer, self.progress, self.cancel, self.load]
        demo.load(self.shown, self.dismissed, page, queue=False)
        targets.model_status.change(self.shown, self.dismissed, page, queue=False)
        started = [self.job_repo, self.timer, self.progress, self.cancel, self.load]
        for model in self.catalog:
            _, get, convert = self.rows[model.id]
            get.click(self.start_download(model), None, [*started, targets.error_box])
            convert.click(self.open_convert(model), None, [targets.tabs, targets.convert_source])
        self.dismiss.click(
            lambda: (gr.update(visible=False), True), None, [self.box, self.dismissed]
        )


class HubBox(_DownloadView):
    """ "Download from the hub" in the Models tab (call inside the tab)."""

    prefix = "hub"

    def __init__(self, host: ModelHost, downloads: Downloads) -> None:
        super().__init__(host, downloads)
        gr.Markdown("### Download from the hub")
        with gr.Row(equal_height=True):
            self.spec = gr.Textbox(
                label="Hugging Face repository of GGUF files, with a quantization if you like",
                placeholder="unsloth/Seed-OSS-36B-Instruct-GGUF:Q4_K_M",
                elem_id="hub-repo",
                scale=4,
            )
            self.list_btn = gr.Button("What fits?", scale=1, elem_id="hub-list")
            self.start = gr.Button("Download", variant="primary", scale=1, elem_id="hub-download")
        self.offers = gr.Markdown("", elem_id="hub-offers")
        self._controls()

    def what_fits(self, spec: str) -> dict[Any, Any]:
        """The repository's files, their sizes and how each fits this machine."""
        error_box = self.targets.error_box
        try:
            repo, _ = parse_spec(spec or "")
            listing = list_repo(repo)
            rec = recommend_listing(listing)
        except SeedchatError as err:
            return {error_box: error_update(err), self.offers: ""}
        rows = [f"On this machine ({rec.machine.describe()}), context {rec.context}:", ""]
        rows += ["| quant | size | fit |", "| --- | --- | --- |"]
        for fit in rec.fits:
            best = " **← best fit**" if fit is rec.best else ""
            rows.append(f"| {fit.quant} | {human_size(fit.size_bytes)} | {fit.text}{best} |")
        return {error_box: error_update(None), self.offers: "\n".join(rows)}

    def start_download(self, spec: str) -> dict[Any, Any]:
        try:
            parse_spec(spec or "")  # a clear error for what is not OWNER/NAME[:QUANT]
            job = self.downloads.start(spec.strip())
        except SeedchatError as err:
            return {self.targets.error_box: error_update(err)}
        return {**self.started(job), self.targets.error_box: error_update(None)}

    def wire(self, targets: DownloadTargets) -> None:
        self._wire_controls(targets)
        self.list_btn.click(self.what_fits, self.spec, [targets.error_box, self.offers])
        started = [self.job_repo, self.timer, self.progress, self.cancel, self.load]
        self.start.click(self.start_download, self.spec, [*started, targets.error_box])
