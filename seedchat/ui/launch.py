"""Start the web UI: host and port, the password, the browser, no outside requests.

- The app listens on 127.0.0.1 unless told otherwise; when the wanted port is taken
  the next free one is used.
- Listening beyond localhost prints a warning, and a password (user ``seedchat``)
  can be set; it is strongly advised then.
- ``lan`` (``seedchat ui --lan``): listening on the local network for a phone; the password
  is required (:mod:`seedchat.ui.lan` makes and keeps it), it is also the API's key unless
  another is given, and the address others open (:attr:`Running.lan_url`) is printed and
  shown in the Models tab with its QR code. With a loopback ``host`` the same code path
  listens on this machine only (how the tests run it).
- Whenever a password is asked, failed logins are rate-limited per client address and
  logged (:class:`seedchat.ui.lan.LoginGuard`), and every route of the page needs the
  session or the key (:class:`seedchat.ui.gate.PasswordGate`: gradio's login covers only
  some); a password kept in a file is read again when the file changes.
- Every request's ``Host`` and, for writes, ``Origin`` are checked first
  (:class:`seedchat.api.guard.Guard`): the names it answers to are loopback's, the address
  it listens on and the ``allowed_hosts`` setting.
- Gradio's analytics are switched off before gradio is imported, and the theme uses
  only local system fonts, so the page makes no request outside the machine.
- Gradio's queue looks for work less often than it would (:func:`calm_queue`): the page
  server's loop no longer wakes a thousand times a second beside the model; and an update
  builds nothing for the outputs it leaves alone (:func:`seedchat.ui.skips.light_skips`).
"""

from __future__ import annotations

import logging
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedchat.api.guard import Guard, listener_names
from seedchat.errors import SeedchatError
from seedchat.network import browser_url, find_free_port, is_loopback, lan_url
from seedchat.ui.gate import KEYED_PREFIXES, PasswordGate
from seedchat.ui.lan import KeptPassword, LoginGuard, LoginLimiter

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
LAN_HOST = "0.0.0.0"  # --lan without --host: every interface, announced by its LAN address
DEFAULT_PORT = 7860
AUTH_USER = "seedchat"
PASSWORD_ENV = "SEEDCHAT_PASSWORD"


@dataclass(frozen=True)
class LaunchOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    open_browser: bool = True
    password: str | None = None
    api: bool = True  # serve the OpenAI-compatible API under /v1 beside the page
    api_key: str | None = None
    lan: bool = False  # for a phone on the local network: password required, the QR code
    password_file: Path | None = None  # where the password is kept: read again when changed

    @property
    def public(self) -> bool:
        return not is_loopback(self.host)

    @property
    def key(self) -> str | None:
        """The key the API asks for: the given one; in LAN mode, else the password."""
        return self.api_key or (self.password if self.lan else None)

    def keeper(self) -> KeptPassword | None:
        """The password the page asks for, kept (and watched) for a running page."""
        if not self.password:
            return None
        return KeptPassword(self.password, self.password_file, user=AUTH_USER)

    @property
    def serves_api(self) -> bool:
        """The API is on unless turned off, or the page is public and no key was given
        (an API beyond this machine needs a key)."""
        return self.api and (not self.public or bool(self.key))


@dataclass
class PhoneAddress:
    """The address a phone opens (LAN mode), known once the port is: the Models tab
    shows it with its QR code."""

    url: str | None = None


@dataclass
class ApiMount:
    """The APIs (seedchat.api) served on the page's own port beside it, over the page's
    model host: the page and an editor share one loaded model."""

    routes: list[Any]  # seedchat.api.app.routes: /health, /v1, /api
    url: str | None = None  # set once the server answers

    def attach(self, server_app: Any, base_url: str) -> None:
        server_app.router.routes[0:0] = self.routes  # before gradio's own catch-alls
        self.url = base_url + "v1"


def api_warning(options: LaunchOptions) -> str | None:
    """Why the API is off though it was not turned off (public, no key), else None."""
    if options.api and not options.serves_api:
        return (
            f"the API (/v1) is off: on {options.host} other machines could use it, and no API "
            "key was given. Set one with --api-key or SEEDCHAT_API_KEY, or use --no-api."
        )
    return None


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


@dataclass
class Running:
    """A started app: its URL and how to stop it."""

    url: str
    blocks: Any
    seconds_to_ready: float
    interrupted: bool = False  # Ctrl+C came while the started page was being set up
    lan_url: str | None = None  # LAN mode: the address other devices open

    def wait(self) -> None:
        """Serve until interrupted (Ctrl+C raises KeyboardInterrupt out of here)."""
        while not self.interrupted:
            time.sleep(0.5)

    def serve(self, before: Callable[[], None] | None = None) -> None:
        """Run ``before`` (the front end's own announcements), then block until Ctrl+C,
        then shut down. Ctrl+C at any moment once the page is served is a clean stop."""
        try:
            if before is not None and not self.interrupted:
                before()
            self.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        self.blocks.close()
        tools = getattr(self.blocks, "seedchat_tools", None)
        if tools is not None:
            tools.close()  # no MCP server outlives the app
        store = getattr(self.blocks, "seedchat_store", None)
        if store is not None:
            store.close()


def launch(
    blocks: Any,
    options: LaunchOptions,
    block: bool = True,
    on_ready: Callable[[], None] | None = None,
    allowed_hosts: tuple[str, ...] = (),
) -> Running:
    """Serve ``blocks`` (a gradio Blocks made by :func:`seedchat.ui.app.build_app`).

    ``on_ready`` runs once the server answers. With ``block=False`` returns then; else
    serves until Ctrl+C. ``allowed_hosts``: more names it answers to (the setting).
    """
    started = time.perf_counter()
    if options.lan and not options.password:
        raise SeedchatError(
            "seedchat will not listen on the network without a password.",
            hint="Give one with --password or SEEDCHAT_PASSWORD, or let `seedchat ui --lan` "
            "make one in its config folder.",
        )
    port = find_free_port(options.host, options.port)
    phone = lan_url(options.host, port) if options.lan else None
    password = getattr(blocks, "seedchat_password", None) or options.keeper()
    names = listener_names(options.host, allowed_hosts)
    # (the queue is on by default, one event at a time unless an event says otherwise;
    # calling blocks.queue() again would build the server app twice)
    try:
        _serve(blocks, options, port, _middleware(options, names, password), password)
    except KeyboardInterrupt:
        if not getattr(blocks, "is_running", False):
            raise
        interrupted = True  # the page is served (gradio still starting up): a clean stop
    else:
        interrupted = False
    url = browser_url(options.host, port)
    running = Running(url, blocks, time.perf_counter() - started, interrupted, phone)
    if getattr(blocks, "seedchat_phone", None) is not None:
        blocks.seedchat_phone.url = phone
    if interrupted:
        return _finish(running, block)
    api = getattr(blocks, "seedchat_api", None)
    if api is not None:
        api.attach(blocks.server_app, url)
    log.info("seedchat UI at %s (ready in %.2f s)", url, running.seconds_to_ready)
    try:
        if on_ready is not None:
            on_ready()
        if options.open_browser:
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    except KeyboardInterrupt:  # the page is up: stop it as Ctrl+C during serve() does
        running.interrupted = True
    return _finish(running, block)


def _finish(running: Running, block: bool) -> Running:
    if block:
        running.serve()
    return running


def _middleware(
    options: LaunchOptions, names: frozenset[str], password: KeptPassword | None
) -> list[Any]:
    """The checks in front of the page, outermost first: the Content-Security-Policy; Host
    and Origin; the page's early script (seedchat.ui.frames); with a password, failed logins limited per address and every route behind
    the session or the key.
    (Middleware given to the app gradio makes, so they run from the first request on.)"""
    from starlette.middleware import Middleware

    from seedchat.ui.csp import ContentSecurityPolicy
    from seedchat.ui.frames import EarlyScript

    # the page fetches only from itself (the headers on every answer, refusals included)
    checks = [Middleware(ContentSecurityPolicy), Middleware(Guard, names=names)]
    checks.append(Middleware(EarlyScript))  # the page draws only when it has something to
    if password is not None:
        keyed = KEYED_PREFIXES if options.serves_api else ()
        checks += [
            Middleware(LoginGuard, limiter=LoginLimiter()),
            Middleware(
                PasswordGate, password=password, key=api_key(options, password), keyed=keyed
            ),
        ]
    return checks


def api_key(options: LaunchOptions, password: KeptPassword | None) -> Callable[[], str | None]:
    """The API's key now: the given one; in LAN mode, else the password as it is now."""
    if options.api_key or not options.lan or password is None:
        return lambda: options.key
    return password.current


#: How often gradio's queue looks for a new event while it has none (seconds). Gradio looks
#: every millisecond: the page server's event loop woke a thousand times a second, idle or
#: not (~6 % of a core here), each time taking a core from llama.cpp's threads, which wait on
#: each other (docs/benchmarks.md, "The queue's millisecond"). A queued event (a Send) now
#: starts at most this much later.
QUEUE_POLL_SECONDS = 0.01
#: How often it looks for progress to send (gradio: every 10 ms); a bar moves 10 times a second.
PROGRESS_POLL_SECONDS = 0.1


def calm_queue(blocks: Any) -> None:
    """Set how often ``blocks``' queue polls (before it starts); gradio without that queue
    attribute is left as it is."""
    queue = getattr(blocks, "_queue", None)
    if queue is None or not hasattr(queue, "sleep_when_free"):
        log.warning("gradio's queue has changed: it polls at its own rate")
        return
    queue.sleep_when_free = QUEUE_POLL_SECONDS
    queue.progress_update_sleep_when_free = PROGRESS_POLL_SECONDS


def _serve(
    blocks: Any, options: LaunchOptions, port: int, middleware: list[Any], password: Any
) -> None:
    from seedchat.ui import run_history
    from seedchat.ui.skips import light_skips
    from seedchat.ui.theme import CSS, HEAD, theme

    calm_queue(blocks)
    light_skips(blocks)
    blocks.launch(
        server_name=options.host,
        server_port=port,
        prevent_thread_lock=True,
        auth=password.matches if password is not None else None,
        auth_message=f"seedchat: user '{AUTH_USER}' and its password" if password else None,
        show_error=True,
        quiet=True,
        footer_links=[],
        run_history=run_history.KEEP,  # no copy of the conversations in the browser
        theme=theme(),
        css=CSS,
        head=HEAD,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        app_kwargs={"middleware": middleware},
    )


def api_mount(
    host: Any, options: LaunchOptions, password: KeptPassword | None = None
) -> ApiMount | None:
    """The APIs served beside the page (/v1 and Ollama's /api), or None when off. In LAN
    mode without its own key the API asks for ``password`` as it is at each request."""
    if not options.serves_api:
        return None
    from seedchat.api.app import routes
    from seedchat.api.calls import ApiOptions

    key = api_key(options, password) if options.key else None
    return ApiMount(routes(host, ApiOptions(api_key=key)))


def start(
    options: LaunchOptions, model: str | None = None, block: bool = True, remote: Any = None
) -> Running:
    """Everything ``seedchat ui`` does: settings, the model (in the background), the page.
    ``remote`` (a seedchat.engine.remote_servers.RemoteServer) runs ``model`` on that server instead."""
    from seedchat.ui.gradio_import import prepare

    prepare()  # analytics off, and gradio's import-time stub writing skipped
    from seedchat.chat.session import open_store
    from seedchat.engine.host import ModelHost, initial_model
    from seedchat.settings import load_settings
    from seedchat.ui.app import build_app

    settings = load_settings()
    host = ModelHost(settings)
    if remote is not None:
        host.will_load(f"{model or 'a model'} on {remote.label}")
        first = None
    else:
        first = Path(model).expanduser() if model else initial_model(settings)
        host.will_load(first)
    store, problem = open_store()
    password = options.keeper()
    api = api_mount(host, options, password)
    phone = PhoneAddress() if options.lan else None
    blocks = build_app(host, settings, store=store, store_problem=problem, api=api, phone=phone)
    blocks.seedchat_password = password
    blocks.seedchat_api = api
    blocks.seedchat_phone = phone
    blocks.seedchat_host = host  # for tests and benchmarks
    blocks.seedchat_store = store

    # The model loads once the page is being served: loading it at the same time as
    # gradio's import only makes both slower on a machine with few cores.
    def ready() -> None:
        if remote is not None:
            host.connect_in_background(remote, model)
        else:
            host.load_in_background(first)

    allowed = tuple(settings.get("allowed_hosts"))
    return launch(blocks, options, block=block, on_ready=ready, allowed_hosts=allowed)
