"""The Tools panel's built-in tools: one switch each (``#builtin-tools``; each off until
switched on, fetch said to reach the web) and the folders the files tool may read
(``#files-folders``, one a line, saved by ``#files-folders-save``). The same file and the
same rules as ``seedchat tools enable|disable NAME [--folder DIR]``
(:class:`~seedchat.tools.builtin.config.BuiltinConfig`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from seedchat.errors import SeedchatError
from seedchat.tools.builtin.config import BUILTINS, BuiltinConfig
from seedchat.ui.updates import error_update

LABELS = {
    "python": "python — run Python in a sandbox (no files, network or environment)",
    "files": "files — list, read and search the folders below",
    "fetch": "fetch — read public web pages (off by default: it reaches the internet)",
}


def folders_text(config: BuiltinConfig) -> str:
    return "\n".join(str(f) for f in config.folders)


class BuiltinBox:
    """Lays out the switches and the folders (call inside the panel's column)."""

    def __init__(self) -> None:
        config = BuiltinConfig.load()
        self.switches = gr.CheckboxGroup(
            label="Built-in tools (each off until you switch it on)",
            choices=[(LABELS.get(name, name), name) for name in BUILTINS],
            value=sorted(config.enabled),
            elem_id="builtin-tools",
        )
        self.folders = gr.Textbox(
            label="Folders the files tool may read (one a line)",
            value=folders_text(config),
            lines=2,
            elem_id="files-folders",
        )
        self.save = gr.Button("Save folders", size="sm", elem_id="files-folders-save")

    def view(self) -> tuple[Any, str]:
        config = BuiltinConfig.load()
        return gr.update(value=sorted(config.enabled)), folders_text(config)

    def wire(self, refresh: Any, error_box: Any) -> None:
        shown = [self.switches, self.folders]
        refresh.click(self.view, None, shown, queue=False)

        def on_switches(wanted: list[str]) -> tuple[Any, ...]:
            config = BuiltinConfig.load()
            try:
                for name in BUILTINS:
                    config.set_enabled(name, name in wanted)
                config.save()
            except SeedchatError as err:
                return (*self.view(), error_update(err))
            return (*self.view(), error_update(None))

        self.switches.input(on_switches, self.switches, [*shown, error_box], queue=False)

        def on_folders(text: str) -> tuple[Any, ...]:
            config = BuiltinConfig.load()
            try:
                wanted = [line.strip() for line in (text or "").splitlines() if line.strip()]
                config.folders = []
                for folder in wanted:
                    config.add_folder(folder)
                if not config.folders:
                    config.enabled.discard("files")
                config.save()
            except SeedchatError as err:
                return (*self.view(), error_update(err))
            return (*self.view(), error_update(None))

        self.save.click(on_folders, self.folders, [*shown, error_box], queue=False)
