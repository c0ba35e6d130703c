"""The Models tab's "Add a server" box: an OpenAI-compatible server (vLLM, llama.cpp's
server, another seedchat) whose models then appear in the model picker beside the local
GGUF files, marked as remote with the server's name.

A server is saved in the settings (its key in the OS keyring where there is one, else in
the settings file readable by its owner only); the page never shows a key back in full.
A picked remote model's value is ``remote:<server name>:<model id>``.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from seedchat.engine.remote_servers import (
    RemoteServer,
    list_server_models,
    masked,
    save_server,
    saved_servers,
)
from seedchat.errors import SeedchatError
from seedchat.settings import Settings
from seedchat.ui.updates import error_update

log = logging.getLogger(__name__)

REMOTE = "remote:"


def remote_choice(server: RemoteServer, model_id: str) -> tuple[str, str]:
    """A remote model as the picker lists it: (label, value)."""
    return f"{model_id} · {server.label} (remote)", f"{REMOTE}{server.name}:{model_id}"


def parse_remote(value: str, settings: Settings) -> tuple[RemoteServer, str] | None:
    """The saved server and model id a picker value names (None: not a remote model)."""
    if not value.startswith(REMOTE):
        return None
    name, _, model_id = value[len(REMOTE) :].partition(":")
    for server in saved_servers(settings):
        if server.name == name:
            return server, model_id
    raise SeedchatError(
        f"There is no saved server named {name!r}.", hint="Add it again in the Models tab."
    )


class ServersBox:
    """Lays out the box (inside the Models tab); ``wire`` connects it to the picker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        with gr.Accordion("Add a server (vLLM, llama.cpp, seedchat serve…)", open=False):
            with gr.Row():
                self.name = gr.Textbox(label="Name", placeholder="gpu-box", elem_id="server-name")
                self.url = gr.Textbox(
                    label="URL", placeholder="http://gpu-box:8000/v1", elem_id="server-url"
                )
                self.key = gr.Textbox(
                    label="API key (if it asks for one)", type="password", elem_id="server-key"
                )
            self.add = gr.Button("Add server", elem_id="add-server")
            self.note = gr.Markdown("", elem_id="server-note")

    def choices(self) -> list[tuple[str, str]]:
        """The saved servers' models (a server that does not answer is left out)."""
        out = []
        for server in saved_servers(self.settings):
            try:
                out += [remote_choice(server, m.id) for m in list_server_models(server)]
            except SeedchatError as err:
                log.warning("server %s: %s", server.label, err)
        return out

    def on_add(self, name: str, url: str, key: str) -> tuple[Any, ...]:
        name, url = (name or "").strip(), (url or "").strip()
        if not name or not url or ":" in name:
            problem = "A server needs a name (without ':') and its URL."
            return gr.update(), error_update(problem), gr.update(), gr.update()
        server = RemoteServer(url, (key or "").strip() or None, name)
        try:
            models = list_server_models(server)  # it answers, and the key is right
            where = save_server(self.settings, server)
        except SeedchatError as err:
            return gr.update(), error_update(err), gr.update(), gr.update()
        names = ", ".join(m.id for m in models) or "no model loaded"
        note = (
            f"Added **{name}** ({server.base_url}; key {masked(server.api_key)}, kept in "
            f"{where}): {names}. Its models are in the picker above."
        )
        picked = remote_choice(server, models[0].id)[1] if models else None
        return gr.update(value=note), error_update(None), "", picked

    def wire(self, picker: Any, error_box: Any, all_choices: Any) -> None:
        def added(name: str, url: str, key: str) -> tuple[Any, ...]:
            note, error, cleared, picked = self.on_add(name, url, key)
            choices = gr.update(choices=all_choices(), value=picked) if picked else gr.update()
            return note, error, cleared, choices

        self.add.click(
            added, [self.name, self.url, self.key], [self.note, error_box, self.key, picker]
        )
