"""Start the web UI: host and port, the password, the browser, no outside requests.

- The app listens on 127.0.0.1 unless told otherwise; when the wanted port is taken
  the next free one is used.
- Listening beyond localhost prints a warning, and a password (user ``seedchat``)
  can be set; it is strongly advised then.
- Gradio's analytics are switched off before gradio is imported, and the theme uses
  only local system fonts, so the page makes no request outside the machine.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedchat.errors import SeedchatError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
PORT_TRIES = 100
AUTH_USER = "seedchat"
PASSWORD_ENV = "SEEDCHAT_PASSWORD"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(host: str, start: int, tries: int = PORT_TRIES) -> int:
    """``start`` if it is free on ``host``, else the next free port after it."""
    for port in range(start, min(start + tries, 65536)):
        if port_is_free(host, port):
            if port != start:
                log.info("port %d is taken, using %d", start, port)
            return port
    raise SeedchatError(
        f"No free port between {start} and {min(start + tries, 65536) - 1} on {host}.",
        hint="Close another app or choose a port with --port.",
    )


@dataclass(frozen=True)
class LaunchOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    open_browser: bool = True
    password: str | None = None

    @property
    def public(self) -> bool:
        return not is_loopback(self.host)


def exposure_warning(options: LaunchOptions) -> str | None:
    """The warning printed when the app listens beyond this machine, else None."""
    if not options.public:
        return None
    text = f"seedchat is listening on {options.host}: other machines on the network can reach it"
    if options.password:
        return text + f" (password required, user '{AUTH_USER}')."
    return (
        text + " and anyone who can reach it can use your models and read your conversations. "
        f"Set a password with --password or {PASSWORD_ENV}."
    )


def browser_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


@dataclass
class Running:
    """A started app: its URL and how to stop it."""

    url: str
    blocks: Any
    seconds_to_ready: float

    def wait(self) -> None:
        """Serve until interrupted (Ctrl+C raises KeyboardInterrupt out of here)."""
        while True:
            time.sleep(0.5)

    def serve(self) -> None:
        """Block until Ctrl+C (or the server stops), then shut down."""
        try:
            self.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        self.blocks.close()
        store = getattr(self.blocks, "seedchat_store", None)
        if store is not None:
            store.close()


def launch(
    blocks: Any,
    options: LaunchOptions,
    block: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> Running:
    """Serve ``blocks`` (a gradio Blocks made by :func:`seedchat.ui.app.build_app`).

    ``on_ready`` runs once the server answers. With ``block=False`` returns then; else
    serves until Ctrl+C.
    """
    from seedchat.ui.theme import CSS, HEAD, theme

    started = time.perf_counter()
    port = find_free_port(options.host, options.port)
    auth = (AUTH_USER, options.password) if options.password else None
    # (the queue is on by default, one event at a time unless an event says otherwise;
    # calling blocks.queue() again would build the server app twice)
    blocks.launch(
        server_name=options.host,
        server_port=port,
        prevent_thread_lock=True,
        auth=auth,
        auth_message="seedchat: enter the password set with --password" if auth else None,
        show_error=True,
        quiet=True,
        footer_links=[],
        theme=theme(),
        css=CSS,
        head=HEAD,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
    )
    url = browser_url(options.host, port)
    running = Running(url=url, blocks=blocks, seconds_to_ready=time.perf_counter() - started)
    log.info("seedchat UI at %s (ready in %.2f s)", url, running.seconds_to_ready)
    if on_ready is not None:
        on_ready()
    if options.open_browser:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    if block:
        running.serve()
    return running


def start(options: LaunchOptions, model: str | None = None, block: bool = True) -> Running:
    """Everything ``seedchat ui`` does: settings, the model (in the background), the page."""
    from seedchat.ui.gradio_import import prepare

    prepare()  # analytics off, and gradio's import-time stub writing skipped
    from seedchat.host import ModelHost, initial_model
    from seedchat.session import open_store
    from seedchat.settings import load_settings
    from seedchat.ui.app import build_app

    settings = load_settings()
    host = ModelHost(settings)
    first = Path(model).expanduser() if model else initial_model(settings)
    host.will_load(first)
    store, problem = open_store()
    blocks = build_app(host, settings, store=store, store_problem=problem)
    blocks.seedchat_host = host  # for tests and benchmarks
    blocks.seedchat_store = store
    # The model loads once the page is being served: loading it at the same time as
    # gradio's import only makes both slower on a machine with few cores.
    return launch(blocks, options, block=block, on_ready=lambda: host.load_in_background(first))
