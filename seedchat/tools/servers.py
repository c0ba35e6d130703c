"""``ToolHost``: the configured MCP servers of one app, their lifecycle, and calls to them.

Servers run on one event loop in a thread of their own ("seedchat-tools"), so a front
end calls the host from any thread with plain functions:

- a server is started in the background when it is first needed (:meth:`ToolHost.start`,
  :meth:`list_tools`, :meth:`call`); one that fails to start is ``failed``, with the tail
  of its stderr in its error (its whole stderr is in ``log_file(name)``);
- one that exits or is killed is ``crashed``: the call in flight gets a clear error, and
  the next call starts it again after a backoff (1 s, doubling up to 60 s, reset by a
  call that gets an answer);
- each call has a timeout (the entry's ``timeout``, else the host's, default 60 s) and
  can be cancelled with a ``threading.Event``; every outcome is a :class:`McpResult`;
- :meth:`close` (also run at exit) stops every server: stdin closed, then SIGTERM, then
  SIGKILL to the child's process group, so no server outlives seedchat.

A stdio child gets only :data:`ALLOWED_ENV` of seedchat's environment plus the ``env``
its entry names: a key or token in seedchat's environment is not handed to every tool.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio

from seedchat.paths import get_paths
from seedchat.settings import Settings
from seedchat.tools.config import ServerEntry, ToolConfigError, ToolsConfig
from seedchat.tools.results import McpResult, ServerState, ServerStatus, ToolInfo

log = logging.getLogger(__name__)

#: What a stdio child sees of seedchat's environment (the SDK's own list, and the locale
#: and temporary folder); anything else only if its entry's ``env`` names it.
ALLOWED_ENV = (
    *("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"),
    *("LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TEMP", "TMP"),
    *("APPDATA", "LOCALAPPDATA", "USERPROFILE", "SYSTEMROOT", "PATHEXT", "COMSPEC"),
)
DEFAULT_CALL_TIMEOUT = 60.0
DEFAULT_START_TIMEOUT = 30.0
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
STDERR_TAIL_LINES = 15


def child_environment(
    entry: ServerEntry, parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The whole environment of ``entry``'s child process."""
    parent = os.environ if parent is None else parent
    env = {k: parent[k] for k in ALLOWED_ENV if k in parent and not parent[k].startswith("()")}
    env.update(entry.env)
    return env


def log_file(name: str) -> Path:
    """Where a server's stderr goes (rewritten at each start)."""
    return get_paths().cache / "tools" / f"{name}.log"


def stderr_tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def backoff_delay(failures: int) -> float:
    return 0.0 if failures <= 0 else min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1))


class _Unavailable(Exception):
    """A server that cannot take a call now; the message is for the user."""


def _client() -> Any:
    """The SDK's module, imported when a server first starts (it takes a second or two;
    ``seedchat --help`` should not)."""
    from seedchat.tools import mcp_client

    return mcp_client


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside anyio's exception groups."""
    while getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return exc


@dataclass
class _Server:
    entry: ServerEntry
    state: ServerState = "stopped"
    error: str | None = None
    tools: tuple[ToolInfo, ...] = ()
    connection: Any = None  # mcp_client.Connection while ready
    task: asyncio.Task | None = None
    settled: asyncio.Event | None = None  # set when a start has succeeded or failed
    stop: asyncio.Event | None = None
    failures: int = 0
    next_start: float = 0.0
    calls: set[asyncio.Task] = field(default_factory=set)


class ToolHost:
    """The servers of ``config`` (``mcp.json``, read when not given)."""

    def __init__(
        self,
        config: ToolsConfig | None = None,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.config = config if config is not None else ToolsConfig.load()
        self.call_timeout = call_timeout
        self.start_timeout = start_timeout
        self._servers = {name: _Server(entry) for name, entry in self.config.servers.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, config: ToolsConfig | None = None) -> ToolHost:
        """The servers of ``mcp.json`` with the settings' call timeout."""
        return cls(config, call_timeout=float(settings.tool_call_timeout))

    # -- the loop's thread ----------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="seedchat-tools", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
                atexit.register(self.close)
            return self._loop

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        return self._submit(coro).result(timeout)

    # -- what is configured and how it is doing ---------------------------------------------

    @property
    def servers(self) -> list[str]:
        return list(self._servers)

    def status(self, name: str) -> ServerStatus:
        srv = self._get(name)
        state: ServerState = "off" if not srv.entry.enabled else srv.state
        return ServerStatus(
            name=name,
            state=state,
            transport="http" if srv.entry.url else "stdio",
            target=srv.entry.describe(),
            tools=srv.tools,
            error=srv.error,
        )

    def statuses(self) -> list[ServerStatus]:
        return [self.status(name) for name in self._servers]

    def _get(self, name: str) -> _Server:
        srv = self._servers.get(name)
        if srv is None:
            known = ", ".join(self._servers) or "none yet"
            raise ToolConfigError(
                f"No MCP server named {name!r} in {self.config.path} (configured: {known}).",
                hint="See 'seedchat tools list', or add one with 'seedchat tools add'.",
            )
        return srv

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switch a server on or off, in ``mcp.json`` too; switching it off stops it."""
        srv = self._get(name)
        self.config.set_enabled(name, enabled)
        self.config.save()
        if not enabled:
            self.stop(name)
        srv.entry = self.config.servers[name]
        srv.state = "stopped" if srv.state == "stopping" else srv.state

    def reload(self) -> None:
        """Read ``mcp.json`` again: a removed or changed server is stopped (a changed one
        starts again when next needed), a new one is added."""
        config = ToolsConfig.load(self.config.path)
        servers: dict[str, _Server] = {}
        for name, entry in config.servers.items():
            old = self._servers.get(name)
            if old is not None and _same_process(old.entry, entry):
                old.entry = entry
                servers[name] = old
            else:
                servers[name] = _Server(entry)
        for name, old in self._servers.items():
            if servers.get(name) is not old:
                self.stop(name)
        self.config, self._servers = config, servers

    # -- starting ---------------------------------------------------------------------

    def start(self, name: str | None = None) -> None:
        """Start one server (or every enabled one) in the background; returns at once."""
        names = [name] if name else [n for n, s in self._servers.items() if s.entry.enabled]
        for n in names:
            self._get(n)
            self._submit(self._start(self._servers[n]))

    def list_tools(self, timeout: float | None = None) -> list[ToolInfo]:
        """The tools of every enabled server, started if need be (waiting at most
        ``timeout``, default the start timeout), sorted by server and name so the tools
        block of a prompt is the same every time. A server that failed has none: see
        :meth:`statuses` for why."""
        enabled = [s for s in self._servers.values() if s.entry.enabled]
        wait = self.start_timeout + 5 if timeout is None else timeout

        async def gather() -> None:
            starts = [self._ready(s) for s in enabled]
            await asyncio.wait_for(asyncio.gather(*starts, return_exceptions=True), wait)

        try:
            self._run(gather())
        except TimeoutError:
            log.warning("some MCP servers were not ready within %s s", wait)
        tools = [t for s in enabled if s.state == "ready" for t in s.tools]
        return sorted(tools, key=lambda t: (t.server, t.name))

    async def _start(self, srv: _Server) -> None:
        if srv.task is None or srv.task.done():
            srv.settled, srv.stop = asyncio.Event(), asyncio.Event()
            srv.state, srv.error = "starting", None
            srv.task = asyncio.get_running_loop().create_task(self._serve(srv))

    async def _ready(self, srv: _Server) -> Any:
        """The server's connection, starting it (after its backoff) if it is not running."""
        if not srv.entry.enabled:
            raise _Unavailable(
                f"The MCP server '{srv.entry.name}' is switched off.",
            )
        ending = srv.state not in ("ready", "starting")  # a crash, a failed start, a stop
        if srv.task is not None and not srv.task.done() and ending:
            await asyncio.wait({srv.task})
        if srv.task is None or srv.task.done():
            delay = srv.next_start - time.monotonic()
            if delay > 0:
                log.info("restarting MCP server %s in %.1f s", srv.entry.name, delay)
                await asyncio.sleep(delay)
            await self._start(srv)
        assert srv.settled is not None
        await srv.settled.wait()
        if srv.state != "ready" or srv.connection is None:
            raise _Unavailable(srv.error or f"The MCP server '{srv.entry.name}' is not running.")
        return srv.connection

    async def _serve(self, srv: _Server) -> None:
        """Run one server from its start to its stop or its end."""
        entry = srv.entry
        path = log_file(entry.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        assert srv.settled is not None and srv.stop is not None
        try:
            with path.open("w", encoding="utf-8", errors="replace") as errlog:
                async with _client().connect(
                    entry, child_environment(entry), errlog, self.start_timeout
                ) as conn:
                    with anyio.fail_after(self.start_timeout):
                        tools = await conn.list_tools()
                    srv.connection, srv.tools, srv.state = conn, tuple(tools), "ready"
                    srv.settled.set()
                    log.info("MCP server %s ready: %d tools", entry.name, len(tools))
                    await _first(srv.stop.wait(), conn.closed.wait())
                    if not srv.stop.is_set():
                        self._ended(srv, "crashed", "stopped unexpectedly")
        except BaseException as exc:  # a failed start, or the child's end
            if isinstance(exc, asyncio.CancelledError) and srv.stop.is_set():
                pass
            elif srv.state == "starting":
                self._ended(srv, "failed", f"did not start: {self._reason(entry, exc)}")
            elif srv.state == "ready" and not srv.stop.is_set():
                self._ended(srv, "crashed", "stopped unexpectedly")
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            srv.connection = None
            if srv.stop.is_set() and srv.state not in ("failed", "crashed"):
                srv.state = "stopped"
            srv.settled.set()

    def _ended(self, srv: _Server, state: ServerState, what: str) -> None:
        name = srv.entry.name
        srv.failures += 1
        srv.next_start = time.monotonic() + backoff_delay(srv.failures)
        srv.state, srv.tools = state, () if state == "failed" else srv.tools
        message = f"The MCP server '{name}' ({srv.entry.describe()}) {what}."
        tail = stderr_tail(log_file(name))
        if tail:
            message += f"\nIts last output (stderr):\n{tail}"
        srv.error = message + f"\n  → Its whole stderr is in {log_file(name)}."
        log.warning("%s", srv.error)

    def _reason(self, entry: ServerEntry, exc: BaseException) -> str:
        exc = _leaf(exc)
        if isinstance(exc, TimeoutError):
            return f"it did not answer within {self.start_timeout:g} s"
        if isinstance(exc, FileNotFoundError):
            return f"there is no program {entry.command!r} (check 'command' in mcp.json)"
        if _client().is_connection_lost(exc):
            return "it exited before it answered"
        if isinstance(exc, OSError):
            return f"{entry.command!r} cannot be run: {exc.strerror or exc}"
        import httpx

        if isinstance(exc, httpx.HTTPError):
            return f"{entry.url} cannot be reached: {exc or type(exc).__name__}"
        return str(exc) or type(exc).__name__

    # -- calling ------------------------------------------------------------------------

    def call(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any] | None = None,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
    ) -> McpResult:
        """Call ``tool`` of ``server``: starts the server if need be; never raises for
        the server's or the call's trouble (see :class:`McpResult`)."""
        started = time.monotonic()
        srv = self._servers.get(server)

        def result(status: str, error: str | None = None, **values: Any) -> McpResult:
            took = time.monotonic() - started
            return McpResult(server, tool, status, error=error, duration_s=took, **values)  # type: ignore[arg-type]

        if srv is None:
            known = ", ".join(self._servers) or "none"
            return result("failed", f"No MCP server named '{server}' (configured: {known}).")
        limit = timeout or srv.entry.timeout or self.call_timeout
        future = self._submit(asyncio.wait_for(self._call(srv, tool, arguments or {}), limit))
        while True:
            done, _ = concurrent.futures.wait([future], timeout=0.05)
            if done:
                break
            if cancel is not None and cancel.is_set():
                future.cancel()
                return result("cancelled", f"The call to {tool} was cancelled.")
        try:
            parts, structured, is_error = future.result()
        except TimeoutError:
            return result(
                "timeout",
                f"The call to {tool} on '{server}' took longer than {limit:g} s and was stopped.",
            )
        except _Unavailable as exc:
            return result("failed", str(exc))
        except Exception as exc:
            if _client().is_connection_lost(exc) or srv.state == "crashed":
                return result(
                    "failed",
                    (srv.error or f"The MCP server '{server}' stopped during the call.")
                    + " It is restarted on the next call.",
                )
            return result("failed", f"The call to {tool} on '{server}' failed: {exc}")
        return result("error" if is_error else "ok", parts=tuple(parts), structured=structured)

    async def _call(self, srv: _Server, tool: str, arguments: dict[str, Any]) -> Any:
        conn = await self._ready(srv)
        if srv.tools and tool not in {t.name for t in srv.tools}:
            names = ", ".join(t.name for t in srv.tools)
            raise _Unavailable(
                f"The MCP server '{srv.entry.name}' has no tool '{tool}' (its tools: {names})."
            )
        outcome = await conn.call_tool(tool, arguments)
        srv.failures = 0  # it answered: the next crash restarts it at once
        return outcome

    # -- stopping -----------------------------------------------------------------------

    def stop(self, name: str, timeout: float = 10.0) -> None:
        if self._loop is not None:
            self._run(self._stop(self._get(name)), timeout)

    async def _stop(self, srv: _Server) -> None:
        if srv.task is not None and not srv.task.done():
            assert srv.stop is not None
            srv.state = "stopping"
            srv.stop.set()
            await asyncio.wait({srv.task})
        srv.failures, srv.next_start = 0, 0.0

    def close(self, timeout: float = 15.0) -> None:
        """Stop every server and the loop's thread (safe to call twice)."""
        with self._lock:
            loop, thread, self._loop = self._loop, self._thread, None
        if loop is None:
            return
        atexit.unregister(self.close)

        async def stop_all() -> None:
            await asyncio.gather(*(self._stop(s) for s in self._servers.values()))

        try:
            asyncio.run_coroutine_threadsafe(stop_all(), loop).result(timeout)
        except Exception as exc:  # stop the loop anyway
            log.warning("stopping the MCP servers: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> ToolHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _same_process(a: ServerEntry, b: ServerEntry) -> bool:
    """Whether a running server can stay as it is under entry ``b`` (only what is
    remembered about it differs)."""
    return replace(a, always_allow=(), timeout=None) == replace(b, always_allow=(), timeout=None)


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
