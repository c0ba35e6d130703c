"""The page's context meter and its plans: the next prompt's size as the user types and
attaches, and, when it does not fit, the planner's ways to load a longer context, each a
button that reloads the model with it.

The meter counts what the next send would render (:func:`seedchat.chat.prompt_size.
prompt_size`, the terminal's count): "41,870 of 65,536 tokens", estimated and labelled so
for a remote model. It is measured again when the message box changes (a key typed, a
file attached: gradio runs only the latest pending count) and when the turns do, but not
for the box a send has just emptied: the answer's end measures again (its turns change),
and a count then would only take the model's first moments from it. The browser decides
that (:data:`MEASURE_JS`), so such a change never reaches the server. While a
newly attached file is read (a scanned page or a picture by OCR, seconds a page), the meter
shows its progress, ``Reading scan.pdf: page 2 of 5…``, with a *Cancel reading* button that
stops it (the file then leaves the box with a line saying it was cancelled).

When the prompt does not fit, a line says so before anything is sent, and the plans of
:func:`seedchat.planner.context_plans` that fit this machine show as buttons
("Reload with 8,192 tokens, KV f16 in RAM: +1.0 GiB RAM, CPU only — fits"). A click
unloads the model, loads it with that plan (the header shows the load's progress), keeps
the plan's context and KV type in the settings (the next start uses them) and measures
again. When the message has files, one more button sends it with the passages of them
that match the question (:mod:`seedchat.documents.retrieval`) instead: the way when no plan fits
(a file beyond the model's trained context, or this machine's memory). Earlier questions'
files that no longer fit whole are counted as the send will give them
(:meth:`ChatSession.fit_earlier_files`). A file that cannot be attached shows its error
and leaves the box.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from seedchat.backend import available_ram_bytes, detect_gpus
from seedchat.chat.prompt_size import PromptSize, prompt_size
from seedchat.chat.session import ChatSession, Turn
from seedchat.documents.read import Document
from seedchat.engine.host import ModelHost, local_engine
from seedchat.engine.load_progress import LoadCancelled
from seedchat.errors import ContextLengthError, SeedchatError
from seedchat.planner import ContextPlan, ModelShape, context_plans, read_shape
from seedchat.settings import LoadOptions, Settings
from seedchat.ui.attachments import UploadCache, message_parts, message_value, refused
from seedchat.ui.models_tab import status_markdown
from seedchat.ui.settings_panel import SettingsPanel
from seedchat.ui.updates import error_update
from seedchat.wording import context_meter_words, does_not_fit_words

log = logging.getLogger(__name__)

#: How often the meter shows a file's reading progress (a scan is read by OCR).
READ_POLL_SECONDS = 0.5
#: The page's flag (on ``window``) that a send emptied the message box: set by the send's
#: own script (:data:`seedchat.ui.chat_pane.EMPTY_BOX_JS`), cleared when the box has words
#: or files again.
SEND_EMPTIED = "seedchatSendEmptied"
#: The box's change, in the browser: a new value for the meter's hidden trigger (which
#: measures) unless the box is empty because a send emptied it (an update that changes nothing).
MEASURE_JS = f"""(message) => {{
  const empty = !String(message?.text ?? '').trim() && !(message?.files ?? []).length;
  if (empty && window.{SEND_EMPTIED}) return [{{ __type__: 'update' }}];
  window.{SEND_EMPTIED} = false;
  window.seedchatMeasures = (window.seedchatMeasures || 0) + 1;  // always a new value
  return [String(window.seedchatMeasures)];
}}"""

#: The most plans offered as buttons (those that fit, the best first).
MAX_PLAN_BUTTONS = 3


#: The button that sends the message with the passages of its files that match.
PASSAGES_BUTTON = "Answer from the passages that match (the whole file is not read)"


def meter_markdown(size: PromptSize | None, files: bool = False) -> str:
    """The meter's line, and the "does not fit" line under it (``files``: the message has
    files, which may go as passages)."""
    if size is None:
        return ""
    text = context_meter_words(size.tokens, size.n_ctx, size.estimated)
    if size.fits or size.n_ctx is None:
        return text
    words = does_not_fit_words(size.tokens, size.n_ctx, size.needed, size.drops_turns)
    if files:
        words += " Or answer from the passages of the files that match the question."
    return f"{text}\n\n**{words}**"


def offers_passages(size: PromptSize | None, files: Sequence[Document]) -> bool:
    """Whether the passages button shows: files that do not fit a local model's context."""
    return bool(files) and size is not None and not size.fits and not size.estimated


def plan_button_text(plan: ContextPlan) -> str:
    """A plan's button: the planner's words ("Reload with 131,072 tokens, KV q8_0 …")."""
    return plan.words


@functools.lru_cache(maxsize=8)
def _shape(path: str, mtime: float) -> ModelShape:
    return read_shape(path)


def fitting_plans(engine: Any, size: PromptSize) -> list[ContextPlan]:
    """The plans that fit this machine for ``size``'s prompt on the loaded local model (the
    memory it holds now counted as free: a plan reloads it)."""
    engine = local_engine(engine)
    if engine is None or size.fits:
        return []
    path = Path(engine.path)
    shape = _shape(str(path), path.stat().st_mtime)
    gpus = detect_gpus()
    free_gpu = gpus[0].free_bytes + engine.plan.gpu_bytes if gpus else 0
    free_ram = available_ram_bytes()
    if free_ram is not None:
        free_ram += engine.plan.ram_bytes
    plans = context_plans(shape, size.needed, free_gpu, free_ram)
    return [p for p in plans if p.fits][:MAX_PLAN_BUTTONS]


def remember_plan(settings: Settings, plan: ContextPlan) -> None:
    """Keep a plan's context, KV cache type and place in the settings (the next start loads
    so)."""
    try:
        settings.set("context_length", plan.n_ctx)
        settings.set("kv_cache_type", plan.kv_type)
        settings.set("offload_kqv", plan.kv_on_gpu)
        settings.set("flash_attn", True)
        settings.save()
    except (SeedchatError, OSError) as exc:
        log.warning("could not keep the context plan in the settings: %s", exc)


def turns_for(turns: list[Turn], editing: bool) -> list[Turn]:
    """The turns the next send answers after: without the last question being edited."""
    if not editing:
        return list(turns)
    last = max((i for i, t in enumerate(turns) if t.role == "user"), default=len(turns))
    return list(turns[:last])


def refuse_if_too_long(session: ChatSession, question: str, files: Sequence[Document]) -> None:
    """Raise ContextLengthError, before anything is saved or sent, when the question and
    its files do not fit the loaded context even without the earlier turns (with them it
    is sent, and the engine names the turns it leaves out)."""
    engine = session.engine.engine if isinstance(session.engine, ModelHost) else session.engine
    size = prompt_size(engine, session, question, files)
    if size is None or size.fits or size.drops_turns or size.n_ctx is None:
        return
    words = does_not_fit_words(size.tokens, size.n_ctx, size.needed, drops_turns=False)
    hint = "The plans under the message box reload it"
    hint += "; or answer from the passages that match (the button there)." if files else "."
    raise ContextLengthError(words, hint=hint)


@dataclass
class MeterTargets:
    """What the meter reads and updates outside itself."""

    message: Any  # the message box
    turns: Any  # the tab's turns
    editing: Any  # the tab's editing flag
    panel: SettingsPanel
    model_status: Any
    error_box: Any


class ContextMeter:
    """Lays out the meter and its plan buttons (call under the message box)."""

    def __init__(self, host: ModelHost) -> None:
        self.host = host
        self.cache = UploadCache()  # the uploads read, shared with the send
        self.meter = gr.Markdown("", elem_id="context-meter")
        # a new value (MEASURE_JS) each time the box changes in a way worth measuring
        self.trigger = gr.Textbox(visible="hidden", elem_id="meter-trigger", show_label=False)
        with gr.Row(elem_id="context-plans"):
            self.buttons = [
                gr.Button("", visible=False, size="sm", elem_id=f"context-plan-{i}")
                for i in range(MAX_PLAN_BUTTONS)
            ]
            self.passages = gr.Button(
                PASSAGES_BUTTON, visible=False, size="sm", elem_id="context-passages"
            )
            self.cancel_reading = gr.Button(
                "Cancel reading", visible=False, size="sm", elem_id="cancel-reading"
            )
        self.plans = gr.State([])

    def measure(
        self, message: Any, turns: list[Turn], editing: bool, **settings: Any
    ) -> Iterator[dict[Any, Any]]:
        """The meter, the plan buttons, and the box without a file that cannot be attached;
        while a new file is read (a scan by OCR: seconds a page), its progress in the meter
        and the Cancel reading button."""
        _, paths = message_parts(message)
        if all(self.cache.has(path) for path in paths):
            yield self.measured(message, turns, editing, refused(self.cache, paths), settings)
            return
        self.cache.cancel.clear()
        done: dict[str, Any] = {}
        reader = threading.Thread(
            target=lambda: done.update(read=refused(self.cache, paths)), daemon=True
        )
        reader.start()
        while reader.is_alive():
            reader.join(READ_POLL_SECONDS)
            words = self.cache.progress_words()
            if words and reader.is_alive():
                yield {self.meter: words, self.cancel_reading: gr.update(visible=True)}
        yield self.measured(message, turns, editing, done["read"], settings)

    def measured(
        self, message: Any, turns: list[Turn], editing: bool, read: Any, settings: dict
    ) -> dict[Any, Any]:
        text, _ = message_parts(message)
        kept, docs, error = read
        updates: dict[Any, Any] = {self.cancel_reading: gr.update(visible=False)}
        if error is not None:
            updates[self.targets.message] = message_value(text, kept)
            updates[self.targets.error_box] = error_update(error)
        size = self.size(text, docs, turns_for(turns, editing), settings)
        plans = fitting_plans(self.host.engine, size) if size is not None else []
        updates[self.meter] = meter_markdown(size, bool(docs))
        updates[self.plans] = plans
        updates[self.passages] = gr.update(visible=offers_passages(size, docs))
        for i, button in enumerate(self.buttons):
            shown = i < len(plans)
            label = plan_button_text(plans[i]) if shown else ""
            updates[button] = gr.update(value=label, visible=shown)
        return updates

    def size(
        self, text: str, docs: Sequence[Document], turns: list[Turn], settings: dict[str, Any]
    ) -> PromptSize | None:
        engine = self.host.engine
        if engine is None or self.host.loading is not None:
            return None
        if not (text.strip() or docs or turns):
            return None
        try:
            chosen = self.targets.panel.read(**settings)
            with self.host.turns.held("count"):  # the model is not unloaded while it counts
                if self.host.engine is not engine:
                    return None
                session = ChatSession(engine, None, chosen, turns)
                session.fit_earlier_files(text, docs)
                return prompt_size(engine, session, text, docs)
        except SeedchatError as err:  # a setting not allowed, a model without a template
            log.info("the prompt was not measured: %s", err)
            return None

    def reload(self, index: int, plans: list[ContextPlan]) -> tuple[Any, Any]:
        """Load the model again with ``plans[index]``: (the header, the error box)."""
        host, engine = self.host, local_engine(self.host)
        if index >= len(plans) or engine is None:
            return status_markdown(host), error_update(None)
        plan, path = plans[index], Path(engine.path)
        host.unload()  # its memory is part of what the plan was priced with
        try:
            host.load(path, options=plan.load_options(LoadOptions.from_settings(host.settings)))
        except LoadCancelled:
            return status_markdown(host), error_update(f"Loading {path.name} was cancelled.")
        except SeedchatError as err:
            return status_markdown(host), error_update(err)
        remember_plan(host.settings, plan)
        return status_markdown(host), error_update(None)

    def wire(self, targets: MeterTargets) -> None:
        self.targets = targets
        inputs = {
            "message": targets.message,
            "turns": targets.turns,
            "editing": targets.editing,
            **targets.panel.kwargs,
        }
        outputs = [
            self.meter,
            self.plans,
            *self.buttons,
            self.passages,
            self.cancel_reading,
            targets.message,
            targets.error_box,
        ]
        self.cancel_reading.click(self.cache.cancel.set, None, None, queue=False)
        measure = {
            "inputs_kwargs": inputs,
            "outputs": outputs,
            "trigger_mode": "always_last",
            "show_progress": "hidden",
        }
        targets.message.change(None, [targets.message], [self.trigger], js=MEASURE_JS, queue=False)
        self.trigger.change(self.measure, **measure)
        targets.turns.change(self.measure, **measure)
        reloading = [self.meter, *self.buttons, self.passages]
        for i, button in enumerate(self.buttons):
            button.click(
                lambda: ("Reloading the model…", *[gr.update(visible=False)] * len(reloading[1:])),
                None,
                reloading,
                queue=False,
            ).then(
                functools.partial(self.reload, i),
                [self.plans],
                [targets.model_status, targets.error_box],
                concurrency_id="load",
                concurrency_limit=1,
            ).then(self.measure, **measure)
