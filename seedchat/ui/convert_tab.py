"""The Convert tab: a checkpoint folder or hub id → a GGUF in seedchat's models folder.

Runs :func:`seedchat.converters.convert_checkpoint` in a worker thread and streams its
progress reports to a progress bar; Cancel sets the conversion's cancel event (the
converter leaves no partial file). When it finishes, the model picker is refreshed so
the new model can be loaded at once.
"""

from __future__ import annotations

import html
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from seedchat.errors import SeedchatError
from seedchat.ui.updates import error_update, tab_key

log = logging.getLogger(__name__)

_STAGES = {"download": "Downloading", "convert": "Converting", "quantize": "Quantizing"}


def progress_html(fraction: float, text: str) -> str:
    """A progress bar with a caption (plain HTML, no script)."""
    pct = max(0.0, min(1.0, fraction)) * 100
    return (
        f'<div class="convert-progress"><progress max="100" value="{pct:.1f}" '
        f'style="width:100%"></progress><div>{html.escape(text)}</div></div>'
    )


def describe(report: Any) -> tuple[float, str]:
    """(fraction, caption) of one :class:`ConvertProgress` report."""
    if report.stage == "done":
        return 1.0, f"Done: {report.message}"
    fraction = report.done / report.total if report.total else 0.0
    caption = f"{_STAGES.get(report.stage, report.stage)} {report.done}/{report.total}"
    if report.tensor:
        caption += f" · {report.tensor}"
        if report.target_type:
            caption += f" → {report.target_type}"
    if report.message and report.stage == "download":
        caption = report.message
    return fraction, caption


class ConvertTab:
    def __init__(self) -> None:
        self._cancels: dict[str, threading.Event] = {}
        gr.Markdown(
            "### Convert a checkpoint\nA Hugging Face checkpoint folder (config.json, "
            "tokenizer.json, *.safetensors) or a hub id such as `ByteDance-Seed/Seed-OSS-36B-Instruct`. "
            "The GGUF is written to seedchat's models folder."
        )
        self.source = gr.Textbox(label="Checkpoint folder or hub id", elem_id="convert-source")
        self.quant = gr.Dropdown(  # choices: fill(), when the tab opens
            [], value=None, label="Quantization", elem_id="convert-quant"
        )
        with gr.Row():
            self.start = gr.Button("Convert", variant="primary", elem_id="convert-start")
            self.cancel = gr.Button("Cancel", variant="stop", elem_id="convert-cancel")
        self.progress = gr.HTML("", elem_id="convert-progress")

    @staticmethod
    def fill() -> Any:
        """The quantization types, the default chosen (imports the converter: not at start)."""
        from seedchat.converters.convert import DEFAULT_QUANT, QUANT_TYPES

        return gr.update(choices=list(QUANT_TYPES), value=DEFAULT_QUANT)

    def wire(self, picker: Any, choices: Callable[[], list], error_box: Any) -> None:
        def run(source: str, quant: str, request: gr.Request) -> Iterator[tuple[Any, ...]]:
            from seedchat.converters import convert_checkpoint
            from seedchat.converters.convert import ConversionCancelled

            session = tab_key(request)
            cancel = self._cancels.setdefault(session, threading.Event())
            cancel.clear()
            source = (source or "").strip()
            if not quant:  # the list not filled yet: the default
                from seedchat.converters.convert import DEFAULT_QUANT

                quant = DEFAULT_QUANT
            if not source:
                yield gr.update(), gr.update(), error_update("Type a checkpoint folder or hub id.")
                return
            reports: queue.Queue = queue.Queue()
            result: dict[str, Any] = {}

            def work() -> None:
                try:
                    result["path"] = convert_checkpoint(
                        source, quant=quant, progress=reports.put, cancel=cancel
                    )
                except SeedchatError as err:
                    result["error"] = err
                except Exception as exc:  # a converter bug must still reach the page
                    log.exception("conversion failed")
                    result["error"] = f"Conversion failed: {exc}"
                finally:
                    reports.put(None)

            threading.Thread(target=work, name="seedchat-convert", daemon=True).start()
            yield progress_html(0, "Starting…"), gr.update(), error_update(None)
            while (report := reports.get()) is not None:
                yield progress_html(*describe(report)), gr.update(), gr.update()
            if "error" in result:
                err = result["error"]
                if isinstance(err, ConversionCancelled):  # asked for: not an error
                    yield (
                        progress_html(0, f"Cancelled: {err.message}"),
                        gr.update(),
                        error_update(None),
                    )
                    return
                yield progress_html(0, "Stopped."), gr.update(), error_update(err)
                return
            path = result["path"]
            yield (
                progress_html(1, f"Done: {path}. Load it in the Models tab."),
                gr.update(choices=choices(), value=str(path)),
                error_update(None),
            )

        self.start.click(
            run,
            [self.source, self.quant],
            [self.progress, picker, error_box],
            concurrency_id="convert",
            concurrency_limit=1,
        )

        def on_cancel(request: gr.Request) -> None:
            self._cancels.setdefault(tab_key(request), threading.Event()).set()

        self.cancel.click(on_cancel, None, None, queue=False)
