"""The Models tab (pick a model on this machine or open a file, load and unload it) and the header's
line about the loaded model."""

from __future__ import annotations

from typing import Any

import gradio as gr

from seedchat.engine.host import ModelHost
from seedchat.engine.load_progress import LoadCancelled
from seedchat.errors import SeedchatError
from seedchat.models import ModelInfo, human_count, human_size, list_models
from seedchat.settings import Settings
from seedchat.ui.servers_box import REMOTE, ServersBox, parse_remote
from seedchat.ui.updates import error_update


def status_markdown(host: ModelHost) -> str:
    """One line of Markdown about the model, for the header."""
    loading, info, error = host.loading, host.info, host.error
    if loading is not None:
        name, share = getattr(loading, "name", loading), host.load_progress
        if share is None:
            return f"◌ Loading **{name}**…"
        return f"◌ Loading **{name}** {progress_bar(share)} {share:.0%}"
    if host.remote is not None:
        return f"● **{host.display_name}** · remote"
    if info is not None:
        quant = f" · {info.quantization}" if info.quantization else ""
        return f"● **{info.display_name}**{quant}"  # the demo's name says "(demo)"
    if error:
        return "○ No model loaded (load failed)"
    return "○ No model loaded"


def progress_bar(share: float, width: int = 12) -> str:
    """A text progress bar: "▰▰▰▰▱▱▱▱▱▱▱▱"."""
    done = round(max(0.0, min(1.0, share)) * width)
    return "▰" * done + "▱" * (width - done)


def api_note(api: Any) -> str:
    """Where the OpenAI-compatible API of this app answers (or that it is off)."""
    if api is None or api.url is None:
        return "OpenAI-compatible API: off (start with `seedchat ui` without `--no-api`)."
    return (
        f"OpenAI-compatible API: `{api.url}` — the same loaded model, for editors and scripts "
        "(`/chat/completions`, `/completions`, `/models`)."
    )


def phone_note(phone: Any) -> Any:
    """LAN mode: the address a phone opens and its QR code (hidden otherwise)."""
    if phone is None or phone.url is None:
        return gr.update(value="", visible=False)
    from html import escape

    from seedchat.ui.lan import qr_data_uri

    url = escape(phone.url)
    return gr.update(
        value=(
            f'<div id="phone-qr"><p>On a phone on this network: <a href="{url}">'
            f"<code>{url}</code></a> (user <code>seedchat</code> and the password)</p>"
            f'<img src="{qr_data_uri(phone.url)}" alt="QR code of {url}" width="174" '
            'height="174"></div>'
        ),
        visible=True,
    )


def model_details(info: ModelInfo, plan: str) -> str:
    lines = [
        f"**{info.display_name}** · {info.architecture} · {human_count(info.parameters)} "
        f"parameters · {info.quantization} · {human_size(info.size_bytes)}",
        f"Offload plan: {plan}" if plan else "",
    ]
    return "\n\n".join(line for line in lines if line)


class ModelsTab:
    """The Models tab: lays it out (call inside the tab); ``wire`` connects it."""

    def __init__(self, host: ModelHost, settings: Settings) -> None:
        self.host = host
        self.settings = settings
        gr.Markdown("### Models")
        self.picker = gr.Dropdown(
            choices=[],  # filled when the tab opens (see build_app)
            value=str(host.info.path) if host.info else None,
            label="Models on this machine",
            elem_id="model-picker",
            allow_custom_value=True,
        )
        self.path = gr.Textbox(
            label="…or open a GGUF file (path on this machine)",
            placeholder="/path/to/model.gguf",
            elem_id="model-path",
        )
        with gr.Row():
            self.gpu_layers = gr.Textbox(
                value=str(settings.get("n_gpu_layers")),
                label="GPU layers ('auto' plans from free GPU memory, 0 = CPU only)",
                elem_id="gpu-layers",
            )
            self.context = gr.Number(
                value=settings.get("context_length"),
                precision=0,
                minimum=0,
                label="Context length (0 = the model's own)",
                elem_id="context-length",
            )
        with gr.Row():
            self.load_btn = gr.Button("Load", variant="primary", elem_id="load-model")
            self.unload_btn = gr.Button("Unload", elem_id="unload-model")
            self.refresh_btn = gr.Button("Refresh list", elem_id="refresh-models")
        self.details = gr.Markdown("", elem_id="model-details")
        self.api_note = gr.Markdown("", elem_id="api-address")
        self.phone_note = gr.HTML("", visible=False, elem_id="phone-address")
        self.servers = ServersBox(settings)

    def choices(self) -> list[tuple[str, str]]:
        """Local GGUF files, then the saved servers' models (marked remote)."""
        out = []
        for info in list_models(self.settings.get("model_paths")):
            label = info.display_name if info.ok else f"{info.path.name} (unreadable: {info.error})"
            out.append((label, str(info.path)))
        return out + self.servers.choices()

    def load(
        self, picked: str | None, typed: str, layers: str, context: float | None
    ) -> tuple[Any, ...]:
        """Load the typed path, else the picked model: (status, error box, details)."""
        host = self.host
        target = (typed or "").strip() or (picked or "")
        if not target:
            return status_markdown(host), error_update("Choose a model or type a path first."), ""
        if target.startswith(REMOTE):
            return self._connect(target)
        layers = (layers or "auto").strip().lower()
        if layers != "auto" and not layers.isdigit():
            problem = f"GPU layers must be 'auto' or a whole number, not {layers!r}."
            return status_markdown(host), error_update(problem), ""
        try:
            info = host.load(
                target,
                n_gpu_layers=layers if layers == "auto" else int(layers),
                context_length=int(context) if context is not None else None,
            )
        except LoadCancelled as err:  # not an error: the model before stays loaded
            return status_markdown(host), error_update(None), err.message
        except SeedchatError as err:
            return status_markdown(host), error_update(err), ""
        return status_markdown(host), error_update(None), model_details(info, host.plan_text())

    def _connect(self, value: str) -> tuple[Any, ...]:
        host = self.host
        try:
            server, model_id = parse_remote(value, self.settings)
            host.connect(server, model_id)
        except SeedchatError as err:
            return status_markdown(host), error_update(err), ""
        kind = host.remote.model.features
        soft = "" if kind.enforces_budget else " A hard budget is kept by cutting and continuing."
        details = f"**{host.display_name}** · {kind.kind}.{soft}"
        return status_markdown(host), error_update(None), details

    def unload(self) -> tuple[str, str]:
        self.host.unload()
        return status_markdown(self.host), "Unloaded."

    def wire(self, model_status: Any, error_box: Any) -> None:
        self.load_btn.click(
            self.load,
            [self.picker, self.path, self.gpu_layers, self.context],
            [model_status, error_box, self.details],
            concurrency_id="load",
            concurrency_limit=1,
        )
        self.unload_btn.click(self.unload, None, [model_status, self.details])
        self.refresh_btn.click(lambda: gr.update(choices=self.choices()), None, self.picker)
        self.servers.wire(self.picker, error_box, self.choices)
