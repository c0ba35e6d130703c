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
    parser.add_argument(
        "--lan",
        action="store_true",
        help="listen on the local network for a phone: a password is required (made on first "
        "use and kept in the config folder), the address and its QR code are printed",
    )
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
    from seedchat.paths import get_paths
    from seedchat.settings import load_settings
    from seedchat.ui.instance import claim, release, running_instance
    from seedchat.ui.lan import lan_password
    from seedchat.ui.launch import (
        LAN_HOST,
        PASSWORD_ENV,
        LaunchOptions,
        api_warning,
        exposure_warning,
        start,
    )

    settings = load_settings()
    for problem in settings.problems:
        warn(problem)
    password = args.password or os.environ.get(PASSWORD_ENV) or None
    made = None
    if args.lan and not password:
        made = lan_password(get_paths().lan_password_file)  # SeedchatError: no start
        password = made.password
    options = LaunchOptions(
        host=args.host or (LAN_HOST if args.lan else settings.get("host")),
        port=args.port or settings.get("port"),
        open_browser=settings.get("open_browser") and not args.no_browser,
        password=password,
        api=not args.no_api,
        api_key=api_key_from(args.api_key),
        lan=args.lan,
        password_file=made.path if made is not None else None,
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
        if running.lan_url:
            announce_lan(running.lan_url, made, same_key=api is not None and not options.api_key)

    try:
        running.serve(before=announce)
    finally:
        release(running.url)
    return 0


def announce_lan(url: str, made, same_key: bool) -> None:
    """The address a phone opens, its QR code, and the password the one time it is made."""
    from seedchat.ui.lan import qr_terminal

    console.print(f"On a phone on this network: [bold]{url}[/]  (user 'seedchat')")
    console.out(qr_terminal(url), highlight=False)
    if made is not None and made.new:
        console.print(f"The password (shown this once; kept in {made.path}):", soft_wrap=True)
        console.print(f"    [bold]{made.password}[/]")
    elif made is not None:
        console.print(f"The password is the one kept in {made.path}.")
    if same_key:
        console.print("The API's key is the same password (Authorization: Bearer <password>).")
