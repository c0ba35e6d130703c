"""The page on the local network (``seedchat ui --lan``): its password, its address as a
QR code, and failed logins rate-limited per address.

- The password is made on first use (about 80 random bits, in groups a phone keyboard
  types easily) and kept in seedchat's config folder in a file only its owner can read
  (mode 0600); it is shown once, when it is made. When it can be neither read nor made,
  LAN mode refuses to start.
- The same password is the API's key in LAN mode, unless ``--api-key`` gives another.
- The running page reads the file again when it changes (:class:`KeptPassword`): writing
  a new password there changes it at once, for the page and the API, and ends the
  sessions opened with the old one (:mod:`seedchat.ui.gate`).
- :class:`LoginGuard` is an ASGI middleware over the page's server: a wrong password on
  ``/login`` (or a wrong key on the API) counts against the client's address; after
  :data:`MAX_FAILURES` within :data:`WINDOW_S` seconds that address gets 429 until the
  oldest failure is out of the window. Each failure is logged with the address.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedchat.api.guard import send_whole
from seedchat.errors import SeedchatError

log = logging.getLogger(__name__)

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off a screen, typed
GROUPS, GROUP_LENGTH = 4, 4  # 16 characters of 31: about 79 bits
MAX_FAILURES = 5
WINDOW_S = 300.0
LOGIN_PATHS = ("/login", "/login/")
KEY_PREFIXES = ("/v1/", "/api/")  # the APIs beside the page: a 401 there is a wrong key


def generate_password() -> str:
    """A new random password: ``xxxx-xxxx-xxxx-xxxx``."""
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))
    return "-".join(groups)


@dataclass(frozen=True)
class LanPassword:
    password: str
    path: Path
    new: bool  # made just now: show it (this once)


def lan_password(path: Path) -> LanPassword:
    """The password kept in ``path``, made (mode 0600) when there is none yet.

    Raises :class:`SeedchatError` when it can be neither read nor written."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise _cannot(path, exc) from exc
    if text:
        _keep_private(path)
        return LanPassword(text, path, new=False)
    password = generate_password()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # an empty file: made again, with the right mode
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(password + "\n")
    except OSError as exc:
        raise _cannot(path, exc) from exc
    log.info("made the LAN password in %s", path)
    return LanPassword(password, path, new=True)


def _keep_private(path: Path) -> None:
    """A password file others can read is made private again (and said so)."""
    if os.name == "nt":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s could be read by others (mode %o): set to 0600", path, mode)
        try:
            path.chmod(0o600)
        except OSError as exc:
            raise _cannot(path, exc) from exc


def _cannot(path: Path, exc: OSError) -> SeedchatError:
    return SeedchatError(
        f"seedchat cannot keep a password for the network in {path}: {exc.strerror or exc}. "
        "It will not listen on the network without one.",
        hint="Fix that folder's permissions, set SEEDCHAT_HOME to a writable folder, or give "
        "a password with --password or SEEDCHAT_PASSWORD.",
    )


class KeptPassword:
    """The password a running page asks for. One kept in a file (``path``) is read again
    whenever the file changes (a ``stat`` a call): a new non-empty text there is the new
    password and :attr:`generation` counts up; a file removed or emptied keeps the last."""

    def __init__(self, password: str, path: Path | None = None, user: str = "seedchat") -> None:
        self._password = password
        self.path = path
        self.user = user
        self.generation = 0
        self._lock = threading.Lock()
        self._seen = self._signature()

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat() if self.path is not None else None
        except OSError:
            return None
        return None if st is None else (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> str:
        """The password now."""
        if self.path is None:
            return self._password
        signature = self._signature()
        with self._lock:
            if signature is None or signature == self._seen:
                return self._password
            self._seen = signature
            try:
                text = self.path.read_text(encoding="utf-8").strip()
            except OSError:
                text = ""
            if text and text != self._password:
                self._password = text
                self.generation += 1
                log.warning(
                    "the password in %s changed: the sessions opened with the old one are ended",
                    self.path,
                )
            return self._password

    def matches(self, user: str, password: str) -> bool:
        """gradio's login check: the user and the password now."""
        return user == self.user and hmac.compare_digest(password.encode(), self.current().encode())


# -- the address as a QR code --------------------------------------------------------------


def qr_terminal(url: str) -> str:
    """``url`` as a QR code drawn with block characters (two rows a line), light modules
    drawn in the terminal's text colour: it reads on a dark terminal as printed."""
    import io

    import segno

    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def qr_data_uri(url: str) -> str:
    """``url`` as a QR code, a PNG ``data:`` URI (the page loads nothing from elsewhere)."""
    import segno

    return segno.make(url, error="m").png_data_uri(scale=6, border=2)


# -- failed logins ----------------------------------------------------------------------------


@dataclass
class LoginLimiter:
    """Failed logins per client address: at most ``max_failures`` in ``window_s`` seconds."""

    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, address: str) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        now = self.clock()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        return times

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again (0: it may now)."""
        with self._lock:
            times = self._recent(address)
            if len(times) < self.max_failures:
                return 0.0
            return max(0.0, times[-self.max_failures] + self.window_s - self.clock())

    def failed(self, address: str) -> int:
        """Count a failure; returns how many are in the window now."""
        with self._lock:
            times = self._recent(address)
            times.append(self.clock())
            return len(times)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


class LoginGuard:
    """ASGI middleware: the limiter in front of the page's ``/login`` and the APIs' key."""

    def __init__(self, app: Any, limiter: LoginLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        login = scope["type"] == "http" and scope["method"] == "POST" and path in LOGIN_PATHS
        keyed = scope["type"] == "http" and path.startswith(KEY_PREFIXES)
        if not (login or keyed):
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        wait = self.limiter.retry_after(address)
        if wait > 0:
            log.warning(
                "refused a login from %s: too many failures (retry in %.0f s)", address, wait
            )
            await _too_many(send, wait)
            return
        refused = 400 if login else 401

        async def watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == refused:
                    count = self.limiter.failed(address)
                    what = "password" if login else "API key"
                    log.warning(
                        "failed login (wrong %s) from %s: %d in the last %.0f s",
                        what,
                        address,
                        count,
                        self.limiter.window_s,
                    )
                elif login and message["status"] == 200:
                    self.limiter.succeeded(address)
            await send(message)

        await self.app(scope, receive, watch)


async def _too_many(send: Any, wait: float) -> None:
    import json

    body = json.dumps(
        {"detail": f"Too many failed logins from this address: try again in {wait:.0f} s."}
    ).encode()
    retry = [(b"retry-after", str(max(1, round(wait))).encode())]
    await send_whole(send, 429, body, b"application/json", retry)
