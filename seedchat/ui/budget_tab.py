"""The Budget tab: a question set run at several thinking budgets in the page
(:mod:`seedchat.budget_lab`), with Run and Stop, progress, three plots against the budget,
the table, the recommendation and **Save as preset**; past sweeps listed, reopened,
deleted and exported.

The sweep runs in a thread of its own through the app's model host, one reply at a time in
the model's queue (a chat asking meanwhile is told it waits); its results are saved as
they come, so a sweep stopped here resumes from ``seedchat sweep --resume ID``.
"""

from __future__ import annotations

import json
import logging
import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from seedchat.budget_lab.builtin_sets import BUILTIN
from seedchat.budget_lab.official import is_seed_oss_36b
from seedchat.budget_lab.questions import read_jsonl
from seedchat.budget_lab.report import budget_label, recommended, report, stats
from seedchat.budget_lab.runner import (
    DEFAULT_BUDGETS,
    Progress,
    parse_budgets,
    run_sweep,
    start_sweep,
)
from seedchat.engine.host import ModelHost
from seedchat.errors import SeedchatError, StoreError
from seedchat.paths import get_paths
from seedchat.presets import load_presets
from seedchat.settings import ChatSettings, Settings
from seedchat.store import Store, SweepRecord, Sweeps
from seedchat.ui.budget_plots import plots, recommendation_text, table_html
from seedchat.ui.convert_tab import progress_html
from seedchat.ui.updates import error_update, tab_key

log = logging.getLogger(__name__)

FILE_CHOICE = "my JSONL file"


def past_choices(sweeps: Sweeps | None) -> list[tuple[str, str]]:
    """The saved sweeps as (label, id), newest first."""
    if sweeps is None:
        return []
    out = []
    for r in sweeps.list():
        budgets = ", ".join(budget_label(b) for b in r.config.get("budgets", []))
        out.append(
            (f"{r.set_name} · {r.model or '?'} · {r.status} · {r.done} replies · {budgets}", r.id)
        )
    return out


class BudgetTab:
    """The tab's components (laid out on creation) and their events (:meth:`wire`)."""

    def __init__(self, host: ModelHost, settings: Settings, store: Store | None) -> None:
        self.host, self.settings = host, settings
        self.sweeps = Sweeps(store.db) if store is not None else None
        self._cancels: dict[str, threading.Event] = {}
        self.presets_path = get_paths().presets_file  # the app's home, as the settings panel's
        self._layout_inputs()
        self._layout_results()

    def _layout_inputs(self) -> None:
        gr.Markdown(
            "### Budget lab\nWhich thinking budget pays on your questions? Run a set at "
            "several budgets: accuracy, time and thinking per budget, and the budget to use."
        )
        with gr.Row():
            names = [*BUILTIN, FILE_CHOICE]
            self.set_name = gr.Dropdown(
                names, value="demo", label="Question set", elem_id="budget-set"
            )
            self.upload = gr.File(
                label="Or drop a JSONL file", file_types=[".jsonl"], elem_id="budget-file"
            )
        with gr.Row():
            default = ",".join(map(str, DEFAULT_BUDGETS))
            self.budgets = gr.Textbox(
                default, label="Budgets (-1 unlimited)", elem_id="budget-budgets"
            )
            self.samples = gr.Number(
                1, precision=0, minimum=1, label="Samples", elem_id="budget-samples"
            )
        with gr.Row():
            self.run = gr.Button("Run", variant="primary", elem_id="budget-run")
            self.stop = gr.Button("Stop", variant="stop", elem_id="budget-stop")
        self.progress = gr.HTML("", elem_id="budget-progress")

    def _layout_results(self) -> None:
        with gr.Row():
            self.plots = [gr.HTML("", elem_id=f"budget-plot-{n}") for n in ("acc", "sec", "think")]
        self.table = gr.HTML("", elem_id="budget-table")
        self.recommendation = gr.Markdown("", elem_id="budget-recommendation")
        with gr.Row():
            self.preset_name = gr.Textbox("", label="Preset name", elem_id="budget-preset-name")
            self.save_preset = gr.Button("Save as preset", elem_id="budget-save-preset")
        self.shown = gr.State(None)  # the id of the sweep on screen
        with gr.Accordion("Past sweeps", open=True):
            self.past = gr.Dropdown(
                past_choices(self.sweeps), label="Saved sweeps", elem_id="budget-past"
            )
            with gr.Row():
                self.reopen = gr.Button("Open", size="sm", elem_id="budget-open")
                self.delete = gr.Button("Delete", size="sm", elem_id="budget-delete")
                self.export = gr.Button("Export JSON", size="sm", elem_id="budget-export")
            self.export_file = gr.File(
                label="Exported", visible=False, elem_id="budget-export-file"
            )

    # -- views ----------------------------------------------------------------------

    def view(self, record: SweepRecord) -> list[Any]:
        """The plots, table and recommendation of ``record``, and its preset name."""
        lines = stats(record.config["budgets"], self.sweeps.runs(record.id))
        drawn = plots(lines, official=is_seed_oss_36b(self.host.info))
        best = recommended(lines)
        name = f"{record.set_name} budget {budget_label(best.budget)}" if best else ""
        return [*drawn, table_html(lines), recommendation_text(lines), name]

    @property
    def view_outputs(self) -> list[Any]:
        return [*self.plots, self.table, self.recommendation, self.preset_name]

    def listing(self, value: str | None = None) -> Any:
        return gr.update(choices=past_choices(self.sweeps), value=value)

    # -- events ---------------------------------------------------------------------

    def wire(self, demo: gr.Blocks, error_box: Any) -> None:
        outputs = [self.progress, *self.view_outputs, self.shown, self.past, error_box]
        self.run.click(
            self.on_run,
            [self.set_name, self.upload, self.budgets, self.samples],
            outputs,
            concurrency_id="budget",
            concurrency_limit=4,
        )
        self.stop.click(self.on_stop, None, None, queue=False)
        self.save_preset.click(
            self.on_save, [self.shown, self.preset_name], [self.recommendation, error_box]
        )
        self.reopen.click(self.on_open, [self.past], [*self.view_outputs, self.shown, error_box])
        self.delete.click(self.on_delete, [self.past], [self.past, error_box])
        self.export.click(self.on_export, [self.past], [self.export_file, error_box])
        demo.load(lambda: self.listing(), None, self.past, queue=False)

    def _questions(self, set_name: str, upload: Any):
        from seedchat.budget_lab.builtin_sets import builtin_set

        if upload:
            return read_jsonl(Path(upload if isinstance(upload, str) else upload.name))
        if set_name == FILE_CHOICE:
            raise SeedchatError(
                "No JSONL file dropped.", hint="Drop one, or choose a built-in set."
            )
        return builtin_set(set_name)

    def _start(self, set_name: str, upload: Any, budgets: str, samples: Any) -> SweepRecord:
        if self.sweeps is None:
            raise StoreError("The conversation database is not open: sweeps cannot be saved.")
        questions = self._questions(set_name, upload)
        chosen = parse_budgets(budgets or "")
        base = ChatSettings.from_settings(self.settings)
        model = self.host.model_name
        return start_sweep(self.sweeps, questions, model, chosen, int(samples or 1), base)

    def on_run(
        self, set_name, upload, budgets, samples, request: gr.Request
    ) -> Iterator[list[Any]]:
        cancel = self._cancels.setdefault(tab_key(request), threading.Event())
        cancel.clear()
        keep = [gr.update()] * len(self.view_outputs)
        try:
            record = self._start(set_name, upload, budgets, samples)
        except SeedchatError as err:
            yield [gr.update(), *keep, gr.update(), gr.update(), error_update(err)]
            return
        reports: queue.Queue = queue.Queue()
        threading.Thread(
            target=self._work, args=(record, cancel, reports), name="seedchat-sweep", daemon=True
        ).start()
        start = progress_html(0, f"Starting: {len(record.questions)} questions")
        yield [start, *keep, record.id, self.listing(record.id), error_update(None)]
        while (item := reports.get()) is not None:
            if isinstance(item, SeedchatError):
                yield [gr.update(), *keep, record.id, gr.update(), error_update(item)]
                continue
            fresh = self.view(self.sweeps.get(record.id)) if item.last is not None else keep
            yield [
                progress_html(item.done / max(item.total, 1), _caption(item)),
                *fresh,
                record.id,
                gr.update(),
                gr.update(),
            ]
        final = self.sweeps.get(record.id)
        said = "Done" if final.status == "done" else "Stopped"
        text = f"{said}: {final.done} replies."
        if said == "Stopped":
            text += f" (Resume with: seedchat sweep --resume {final.id[:8]})"
        yield [
            progress_html(1 if said == "Done" else 0, text),
            *self.view(final),
            final.id,
            self.listing(final.id),
            gr.update(),
        ]

    def _work(self, record: SweepRecord, cancel: threading.Event, reports: queue.Queue) -> None:
        try:
            run_sweep(self.host, self.sweeps, record, cancel, reports.put)
        except SeedchatError as err:
            reports.put(err)
        except Exception as exc:  # a bug must still reach the page
            log.exception("the sweep failed")
            reports.put(SeedchatError(f"The sweep failed: {exc}"))
        finally:
            reports.put(None)

    def on_stop(self, request: gr.Request) -> None:
        self._cancels.setdefault(tab_key(request), threading.Event()).set()

    def on_save(self, sweep_id: str | None, name: str) -> list[Any]:
        try:
            if not sweep_id:
                raise SeedchatError("Run or open a sweep first.")
            record = self.sweeps.get(sweep_id)
            best = recommended(stats(record.config["budgets"], self.sweeps.runs(record.id)))
            if best is None:
                raise SeedchatError("The sweep has no answers yet.")
            base = ChatSettings.from_record(record.config.get("settings")).replace(
                budget=best.budget
            )
            preset = load_presets(self.presets_path).save(
                name.strip(), base, description=f"From the sweep of {record.set_name}"
            )
        except SeedchatError as err:
            return [gr.update(), error_update(err)]
        return [
            f"Saved the preset **{preset.name}** (budget {budget_label(best.budget)}).",
            error_update(None),
        ]

    def on_open(self, sweep_id: str | None) -> list[Any]:
        try:
            record = self.sweeps.get(sweep_id or "")
        except SeedchatError as err:
            return [*[gr.update()] * len(self.view_outputs), gr.update(), error_update(err)]
        return [*self.view(record), record.id, error_update(None)]

    def on_delete(self, sweep_id: str | None) -> list[Any]:
        if sweep_id:
            self.sweeps.delete(sweep_id)
        return [self.listing(), error_update(None)]

    def on_export(self, sweep_id: str | None) -> list[Any]:
        try:
            record = self.sweeps.get(sweep_id or "")
        except SeedchatError as err:
            return [gr.update(), error_update(err)]
        data = report(record, self.sweeps.runs(record.id))
        folder = Path(tempfile.mkdtemp(prefix="seedchat-sweep-"))
        path = folder / f"sweep-{record.set_name}-{record.id[:8]}.json"
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        return [gr.update(value=str(path), visible=True), error_update(None)]


def _caption(progress: Progress) -> str:
    if progress.waiting:
        return progress.waiting
    text = f"{progress.done} of {progress.total} replies"
    if progress.seconds_left is not None:
        minutes, seconds = divmod(int(progress.seconds_left), 60)
        text += f" · about {minutes}:{seconds:02d} left"
    return text
