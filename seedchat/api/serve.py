"""Running the API server (uvicorn), alone (``seedchat serve``) or for tests.

The server listens on 127.0.0.1 unless told otherwise. Listening beyond this machine
needs an API key (``--api-key`` or ``SEEDCHAT_API_KEY``): without one it refuses to start
and says why, since anyone who can reach it could use the model.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

import uvicorn

from seedchat.errors import SeedchatError
from seedchat.network import browser_url, is_loopback, port_is_free

log = logging.getLogger(__name__)

API_KEY_ENV = "SEEDCHAT_API_KEY"
DEFAULT_API_PORT = 8080


def api_key_from(given: str | None) -> str | None:
    """The API key given on the command line, else from ``SEEDCHAT_API_KEY``."""
    return given or os.environ.get(API_KEY_ENV) or None


def check_exposure(host: str, api_key: str | None, what: str = "The API") -> None:
    """Refuse to serve beyond this machine without an API key."""
    if not is_loopback(host) and not api_key:
        raise SeedchatError(
            f"{what} would listen on {host}, where other machines can reach it, without an "
            "API key: anyone on the network could use your model.",
            hint=f"Set a key with --api-key or {API_KEY_ENV} (clients send it as "
            "'Authorization: Bearer <key>'), or listen on 127.0.0.1.",
        )


@dataclass
class ApiServer:
    """A uvicorn server for an ASGI app, run in a thread (``start``) or in the foreground
    (``serve``)."""

    app: object
    host: str = "127.0.0.1"
    port: int = DEFAULT_API_PORT

    def __post_init__(self) -> None:
        if not port_is_free(self.host, self.port):
            raise SeedchatError(
                f"Port {self.port} on {self.host} is taken.",
                hint="Choose another with --port, or stop the program that uses it.",
            )
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return browser_url(self.host, self.port)

    def start(self, timeout: float = 30.0) -> str:
        """Serve in a background thread; returns the base URL once it accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run, name="seedchat-api-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise SeedchatError(f"The API server did not start on {self.url}.")
            time.sleep(0.02)
        return self.url

    def serve(self) -> None:
        """Serve in the foreground until Ctrl+C or SIGTERM."""
        self._server.run()

    def close(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
