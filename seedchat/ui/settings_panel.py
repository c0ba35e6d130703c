"""The generation settings panel: a preset, thinking budget (slider, Unlimited, enforcement),
sampling (temperature, top-p, top-k, max tokens) and the system prompt.

The panel shows one :class:`~seedchat.settings.ChatSettings`: :meth:`SettingsPanel.read`
turns the controls' values into one, :meth:`SettingsPanel.updates` shows one. The values
are remembered twice as they change: as the settings file's defaults (a new chat starts
with the values last chosen) and in the open conversation.

The preset picker (:class:`PresetBox`) sets the controls a preset names
(:mod:`seedchat.presets`: what it does not set stays as it was) and its name goes with the
settings; under it the current settings are saved as a preset of one's own, and one's own
presets renamed or deleted.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from seedchat.chat.session import OpenThread
from seedchat.errors import SeedchatError
from seedchat.paths import get_paths
from seedchat.presets import Presets, load_presets
from seedchat.seed.budget import ENFORCEMENTS, RECOMMENDED, UNLIMITED
from seedchat.settings import ChatSettings, Settings
from seedchat.store import Store
from seedchat.wording import budget_label

log = logging.getLogger(__name__)

#: The slider spans the budgets the model was trained on; the settings file and the CLI
#: take larger ones (up to seedchat.seed.budget.MAX_BUDGET).
SLIDER_MAX = RECOMMENDED[-1]
SLIDER_STEP = 512
BUDGET_HELP = (
    "The thinking budget caps how many tokens the model may think before it answers. "
    "**0 means answer directly**, without thinking. *Unlimited* lets the model decide. "
    "*Hard* cuts thinking at the budget; *soft* leaves it to the model's own reports."
)
BUDGET_LABEL = "Budget (tokens)"
UNLIMITED_LABEL = "Budget: unlimited"


def budget_update(budget: int) -> Any:
    """The slider showing ``budget``; unlimited reads as unlimited, not as a number."""
    if budget < 0:
        return gr.update(interactive=False, label=UNLIMITED_LABEL, elem_classes=["unlimited"])
    return gr.update(
        value=min(SLIDER_MAX, budget), interactive=True, label=BUDGET_LABEL, elem_classes=[]
    )


def _unlimited_update(unlimited: bool) -> Any:
    if unlimited:
        return budget_update(UNLIMITED)
    return gr.update(interactive=True, label=BUDGET_LABEL, elem_classes=[])


def _whole_number(value: int, minimum: int, label: str, elem_id: str) -> Any:
    return gr.Number(value=value, precision=0, minimum=minimum, label=label, elem_id=elem_id)


class SettingsPanel:
    """Lays out the panel (call inside a column); ``wire`` connects it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        shown = ChatSettings.from_settings(settings)
        unlimited = shown.budget < 0
        self.presets = PresetBox(shown.preset)
        gr.Markdown("### Thinking budget")
        self.budget = gr.Slider(
            0,
            SLIDER_MAX,
            value=0 if unlimited else min(SLIDER_MAX, shown.budget),
            step=SLIDER_STEP,
            label=UNLIMITED_LABEL if unlimited else BUDGET_LABEL,
            elem_id="budget",
            elem_classes=["unlimited"] if unlimited else [],
            interactive=not unlimited,
        )
        self.unlimited = gr.Checkbox(value=unlimited, label="Unlimited", elem_id="unlimited")
        self.note = gr.Markdown(f"Now: **{budget_label(shown.budget)}**", elem_id="budget-now")
        self.enforcement = gr.Radio(
            list(ENFORCEMENTS), value=shown.enforcement, label="Enforcement", elem_id="enforcement"
        )
        gr.Markdown(BUDGET_HELP, elem_id="budget-help")
        with gr.Accordion("Sampling", open=False):
            self.temperature = gr.Slider(
                0.0,
                2.0,
                value=shown.temperature,
                step=0.05,
                label="Temperature",
                elem_id="temperature",
            )
            self.top_p = gr.Slider(
                0.0, 1.0, value=shown.top_p, step=0.01, label="Top-p", elem_id="top-p"
            )
            self.top_k = _whole_number(shown.top_k, 0, "Top-k (0: the model's own)", "top-k")
            self.max_tokens = _whole_number(shown.max_tokens, 1, "Max tokens", "max-tokens")
            self.lookup = gr.Checkbox(
                value=shown.lookup_decoding == "auto",
                label="Lookup decoding (faster when the answer copies text from the chat)",
                elem_id="lookup",
            )
        self.system_prompt = gr.Textbox(
            value=shown.system_prompt, label="System prompt", lines=3, elem_id="system-prompt"
        )
        #: the tools switched off in the conversation (set by the Tools panel)
        self.tools_off = gr.State([])
        #: the controls :meth:`read` takes, by its parameter names (a handler's inputs_kwargs)
        self.kwargs = {
            "budget": self.budget,
            "unlimited": self.unlimited,
            "enforcement": self.enforcement,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "max_tokens": self.max_tokens,
            "system_prompt": self.system_prompt,
            "lookup": self.lookup,
            "tools_off": self.tools_off,
            "preset": self.presets.picker,
        }
        #: the components :meth:`updates` sets, in its order
        self.outputs = [
            self.budget,
            self.unlimited,
            self.note,
            *list(self.kwargs.values())[2:],
            self.presets.about,
        ]

    def read(
        self,
        budget: float,
        unlimited: bool,
        enforcement: str,
        temperature: float,
        top_p: float,
        top_k: float | None,
        max_tokens: float | None,
        system_prompt: str,
        lookup: bool = True,
        preset: str | None = None,
        tools_off: list[str] | None = None,
    ) -> ChatSettings:
        """The settings the controls show; raises SettingsError naming a value that is not
        allowed. Settings not on the panel (the seed) come from the settings file."""
        chosen = ChatSettings.from_settings(self.settings).replace(
            budget=UNLIMITED if unlimited else int(budget),
            enforcement=enforcement or ENFORCEMENTS[0],
            temperature=float(temperature),
            top_p=float(top_p),
            top_k=int(top_k or 0),
            max_tokens=int(max_tokens or 1),
            system_prompt=system_prompt or "",
            lookup_decoding="auto" if lookup else "off",
        )
        return dataclasses.replace(
            chosen, preset=(preset or "").strip() or None, tools_off=tuple(tools_off or ())
        )

    def updates(self, record: dict[str, Any] | None) -> tuple[Any, ...]:
        """Updates for ``outputs`` showing a conversation's saved settings over the app's
        defaults (``None``: the defaults, as for a new chat)."""
        cs = ChatSettings.from_record(record, ChatSettings.from_settings(self.settings))
        return (
            budget_update(cs.budget),
            cs.budget < 0,
            f"Now: **{budget_label(cs.budget)}**",
            cs.enforcement,
            cs.temperature,
            cs.top_p,
            cs.top_k,
            cs.max_tokens,
            cs.system_prompt,
            cs.lookup_decoding == "auto",
            list(cs.tools_off),
            *self.presets.shown(cs.preset),
        )

    def wire(self, thread: Any, store: Store | None) -> None:
        """Keep the budget's display true, and remember every change (see the module doc)."""

        def on_budget(value: float, unlimited: bool) -> tuple[Any, str]:
            budget = UNLIMITED if unlimited else int(value)
            return _unlimited_update(unlimited), f"Now: **{budget_label(budget)}**"

        # one event for both controls, queued: a change made while the last one's answer is
        # on its way runs after it, with the values then shown (gradio's "always_last"), so
        # the note never ends showing an earlier value than the slider (two unqueued answers
        # could come back in either order on a busy machine)
        gr.on(
            [self.unlimited.change, self.budget.change],
            on_budget,
            [self.budget, self.unlimited],
            [self.budget, self.note],
            trigger_mode="always_last",
            show_progress="hidden",
        )

        def remember(thread: OpenThread, **values: Any) -> None:
            try:
                chosen = self.read(**values)
                chosen.save_to(self.settings)
                if store is not None and thread.conversation_id is not None:
                    store.update_settings(thread.conversation_id, chosen.to_record())
            except (SeedchatError, OSError) as exc:
                log.warning("could not save the settings: %s", exc)

        # each save writes every setting, so the last save must hold the values last shown:
        # one event for every control (a change while a save is on its way is saved after
        # it, with the values then shown: gradio's "always_last"), one save at a time for
        # every tab. (An event per control could run its saves in the order the requests
        # arrived, not the order they were made: a loaded CI machine kept the older values.)
        gr.on(
            [control.change for control in self.kwargs.values()],
            remember,
            inputs_kwargs={"thread": thread, **self.kwargs},
            trigger_mode="always_last",
            concurrency_id="remember-settings",
            concurrency_limit=1,
            show_progress="hidden",
        )
        self.presets.wire(self)


# -- presets -------------------------------------------------------------------------


def preset_about(presets: Presets, name: str | None) -> str:
    """What the preset ``name`` is and sets, for the line under the picker ("" for none)."""
    preset = presets.find(name) if name else None
    if preset is None:
        return ""
    about = f"{preset.description}. " if preset.description else ""
    whose = "Built in" if preset.builtin else "Yours"
    return f"{about}*{whose}; sets {preset.summary()}.*"


class PresetBox:
    """The preset picker and, under it, save / rename / delete (call inside the column)."""

    def __init__(self, chosen: str | None) -> None:
        #: the user's presets file, fixed when the app starts (as its settings and store)
        self.path = get_paths().presets_file
        presets = load_presets(self.path)
        gr.Markdown("### Preset")
        self.picker = gr.Dropdown(
            choices=presets.names(),
            value=chosen if presets.find(chosen or "") else None,
            label="Preset",
            info="Sets the budget, enforcement, sampling or system prompt it names",
            elem_id="preset",
            allow_custom_value=True,  # the list changes as presets are saved, in any tab
        )
        self.about = gr.Markdown(preset_about(presets, chosen), elem_id="preset-about")
        with gr.Accordion("Save, rename or delete a preset", open=False, elem_id="preset-edit"):
            self.name = gr.Textbox(
                label="Name", placeholder="e.g. code review", max_lines=1, elem_id="preset-name"
            )
            with gr.Row():
                self.save = gr.Button("Save current", size="sm", elem_id="preset-save")
                self.rename = gr.Button("Rename chosen", size="sm", elem_id="preset-rename")
                self.delete = gr.Button("Delete chosen", size="sm", elem_id="preset-delete")
            self.status = gr.Markdown("", elem_id="preset-status")

    def shown(self, name: str | None) -> tuple[Any, str]:
        """Updates for the picker and its line showing the preset ``name`` (the list read
        anew: presets saved in another tab appear)."""
        presets = load_presets(self.path)
        known = presets.find(name or "")
        value = known.name if known is not None else None
        return gr.update(choices=presets.names(), value=value), preset_about(presets, value)

    def wire(self, panel: SettingsPanel) -> None:
        """Picking a preset sets the panel's controls; the buttons change the presets."""
        controls = {**panel.kwargs}
        outputs = [*panel.outputs, self.status]

        def on_pick(**values: Any) -> tuple[Any, ...]:
            name = values.get("preset")
            try:
                preset = load_presets(self.path).get(name or "")
                chosen = preset.apply(panel.read(**values))
            except SeedchatError as err:
                return (*[gr.update()] * (len(panel.outputs) - 2), *self.shown(None), _error(err))
            return (*panel.updates(chosen.to_record()), "")

        self.picker.select(on_pick, inputs_kwargs=controls, outputs=outputs, queue=False)
        edits = [self.picker, self.about, self.status, self.name]

        def on_save(new_name: str, **values: Any) -> tuple[Any, ...]:
            return self.edited(lambda p: p.save(new_name, panel.read(**values)).name, "Saved")

        def on_rename(new_name: str, preset: str | None) -> tuple[Any, ...]:
            return self.edited(lambda p: p.rename(preset or "", new_name).name, "Renamed to")

        def on_delete(preset: str | None) -> tuple[Any, ...]:
            return self.edited(lambda p: p.delete(preset or ""), f"Deleted “{preset}”")

        self.save.click(
            on_save, inputs_kwargs={"new_name": self.name, **controls}, outputs=edits, queue=False
        )
        self.rename.click(
            on_rename,
            inputs_kwargs={"new_name": self.name, "preset": self.picker},
            outputs=edits,
            queue=False,
        )
        self.delete.click(
            on_delete, inputs_kwargs={"preset": self.picker}, outputs=edits, queue=False
        )

    def edited(self, change: Callable[[Presets], str | None], done: str) -> tuple[Any, ...]:
        """Run ``change`` on the presets: the picker showing the preset it returns (a name,
        or None: none chosen), its line, the status, the name box (emptied when it worked)."""
        try:
            name = change(load_presets(self.path))
        except SeedchatError as err:
            return gr.update(), gr.update(), _error(err), gr.update()
        said = f"{done} “{name}”." if name else f"{done}."
        return (*self.shown(name), said, "")


def _error(err: SeedchatError) -> str:
    return f"**Error:** {err}"
