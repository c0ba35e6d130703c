"""`seedchat ui`: start the web UI (also what plain `seedchat` does)."""

from __future__ import annotations

import argparse
import os

from seedchat.cli.console import console, stop_on_sigterm, warn
from seedchat.cli.options import add_engine_options, remote_server

DESCRIPTION = (
    "Start the web UI on 127.0.0.1 (the next free port if the port is taken) and open it in "
    "the default browser. Plain 'seedchat' does the same, with these options too."
)


def register(sub) -> None:
    parser = sub.add_parser("ui", help="Start the web UI", description=DESCRIPTION)
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port to try first (default 7860)")
    parser.add_argument("--no-browser", action="store_true", help="do not open the browser")
    parser.add_argument(
        "--password",
        default=None,
        help="require this password (user 'seedchat'); also read from SEEDCHAT_PASSWORD",
    )
    parser.add_argument("--model", default=None, help="GGUF file to load instead of the last used")
    parser.add_argument(
        "--no-api", action="store_true", help="do not serve the OpenAI-compatible API under /v1"
    )
    add_engine_options(parser)
    parser.add_argument(
        "--api-key", default=None, help="require this key for /v1 (also read from SEEDCHAT_API_KEY)"
    )
    parser.add_argument(
        "--new-instance",
        action="store_true",
        help="start even if seedchat is already running (by default its page is opened)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import webbrowser

    from seedchat.api.serve import api_key_from
    from seedchat.instance import claim, release, running_instance
    from seedchat.settings import load_settings
    from seedchat.ui.launch import (
        PASSWORD_ENV,
        LaunchOptions,
        api_warning,
        exposure_warning,
        start,
    )

    settings = load_settings()
    for problem in settings.problems:
        warn(problem)
    options = LaunchOptions(
        host=args.host or settings.get("host"),
        port=args.port or settings.get("port"),
        open_browser=settings.get("open_browser") and not args.no_browser,
        password=args.password or os.environ.get(PASSWORD_ENV) or None,
        api=not args.no_api,
        api_key=api_key_from(args.api_key),
    )
    for warning in (exposure_warning(options), api_warning(options)):
        if warning:
            warn(warning, loud=True)
    if not args.new_instance:
        other = running_instance()
        if other:
            console.print(
                f"seedchat is already running at [bold]{other}[/]: opening it there "
                "(one model in memory is enough; --new-instance starts another)."
            )
            if options.open_browser:
                webbrowser.open(other)
            return 0
    running = start(options, model=args.model, block=False, remote=remote_server(args))

    def announce() -> None:
        stop_on_sigterm()
        claim(running.url)
        console.print(f"seedchat is running at [bold]{running.url}[/]  (Ctrl+C to stop)")
        api = running.blocks.seedchat_api
        if api is not None:
            console.print(f"OpenAI-compatible API at [bold]{api.url}[/]")

    try:
        running.serve(before=announce)
    finally:
        release(running.url)
    return 0
