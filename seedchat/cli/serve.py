"""`seedchat serve`: the OpenAI-compatible API alone (no web UI, no gradio)."""

from __future__ import annotations

import argparse

from seedchat.cli.console import console, note, stop_on_sigterm, warn
from seedchat.cli.options import (
    add_load_options,
    add_lookup_options,
    add_preset_option,
    with_preset,
)
from seedchat.presets import load_presets
from seedchat.settings import CHAT_KEYS, ChatSettings, Settings

DESCRIPTION = (
    "Serve the model over an OpenAI-compatible API (/v1/chat/completions, /v1/completions, "
    "/v1/models, /health) and Ollama's (/api/chat, /api/generate, /api/tags, /api/show, "
    "/api/ps, /api/version) on 127.0.0.1; --port 11434 for clients that assume Ollama's "
    "port. Beyond this machine it needs an API key."
)


def register(sub) -> None:
    p = sub.add_parser(
        "serve", help="Serve the model over an OpenAI-compatible API", description=DESCRIPTION
    )
    p.add_argument("-m", "--model", help="GGUF file or model name (default: the last used)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--api-key", help="require this key (also read from SEEDCHAT_API_KEY)")
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages from ORIGIN call the API (repeatable)",
    )
    p.add_argument(
        "--save",
        action="store_true",
        help="save the API's conversations (seedchat history, the UI's sidebar)",
    )
    add_load_options(p)
    add_lookup_options(p)
    add_preset_option(
        p,
        "every request starts from this preset's settings ('seedchat presets'); "
        "a request's own fields override it",
    )
    p.set_defaults(func=run)


def use_preset(args: argparse.Namespace, settings: Settings) -> None:
    """``--preset``: this run's defaults for every request (``settings`` is not saved)."""
    if not args.preset:
        return
    chosen = with_preset(args, ChatSettings.from_settings(settings))
    for name, key in CHAT_KEYS.items():
        settings.set(key, getattr(chosen, name))
    note(f"preset {chosen.preset}: {load_presets().get(chosen.preset).summary()}")


def run(args: argparse.Namespace) -> int:
    from seedchat.api.app import create_app
    from seedchat.api.calls import ApiOptions
    from seedchat.api.guard import listener_names
    from seedchat.api.serve import ApiServer, api_key_from, check_exposure
    from seedchat.engine.host import ModelHost
    from seedchat.models import resolve_model
    from seedchat.settings import load_settings

    settings = load_settings()
    for problem in settings.problems:
        warn(problem)
    if args.lookup_decoding:  # this run's default for every request (not saved)
        settings.set("lookup_decoding", args.lookup_decoding)
    use_preset(args, settings)
    key = api_key_from(args.api_key)
    check_exposure(args.host, key)
    path = resolve_model(args.model, settings)
    host = ModelHost(settings)
    console.print(f"loading [bold]{path.name}[/]…")
    host.load(path, remember=False, n_gpu_layers=args.gpu_layers, context_length=args.context)
    options = ApiOptions(api_key=key, cors_origins=tuple(args.cors_origin))
    store = None
    if args.save:
        from seedchat.api.saving import saving_options

        options, store = saving_options(options)
    names = listener_names(args.host, settings.get("allowed_hosts"))
    server = ApiServer(create_app(host, options, names), args.host, args.port)
    console.print(
        f"seedchat API at [bold]{server.url}v1[/] (OpenAI) and [bold]{server.url}api[/] "
        f"(Ollama)  (model {path.stem}; Ctrl+C to stop)"
    )
    stop_on_sigterm()
    try:
        server.serve()
    except KeyboardInterrupt:  # uvicorn stopped gracefully, then passed Ctrl+C/SIGTERM on
        pass
    finally:
        host.unload()
        if store is not None:
            store.close()
    return 0
