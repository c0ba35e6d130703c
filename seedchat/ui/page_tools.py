"""The page's tools: the MCP servers of ``mcp.json`` for every tab, and the approvals the
page waits for. No gradio.

:class:`PageTools` holds the app's one :class:`~seedchat.tools.ToolHost` (the servers
start in the background when the app starts, as ``seedchat chat``'s do when first
needed; :meth:`PageTools.close` stops them with the app, so no server process outlives
it). :meth:`PageTools.runner` gives a turn its tools: the enabled servers' tools (the
session leaves out those its conversation switched off), or none with a reason a user can
act on (a bad ``mcp.json``).

:class:`Approvals` is the page's :class:`~seedchat.tools.protocol.Approver` side: the tool
loop runs in the model's thread, and :meth:`Approvals.approver` gives it an approver
that blocks that thread on a ``threading.Event`` until the tab's user clicks *Allow
once*, *Always allow* or *Deny* on the card (:meth:`Approvals.decide`), or stops the
answer (the loop then ends the turn as stopped). The page keeps drawing meanwhile.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedchat.engine.host import count_text, local_engine
from seedchat.errors import SeedchatError
from seedchat.seed.template import seed_template
from seedchat.settings import Settings
from seedchat.tools.builtin.runner import with_builtins
from seedchat.tools.config import ToolConfigError, ToolsConfig, config_file
from seedchat.tools.cost import ToolCosts, tool_costs
from seedchat.tools.mcp_tools import McpTools
from seedchat.tools.protocol import DECISIONS, Decision, PendingCall, ToolRunner
from seedchat.tools.results import ServerStatus, ToolInfo
from seedchat.tools.servers import ToolHost

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how often a waiting call looks at the Stop button


@dataclass
class _Waiting:
    tab: str
    call: PendingCall
    decided: threading.Event = field(default_factory=threading.Event)
    decision: Decision = "deny"


class Approvals:
    """The calls waiting for a user of the page, by call id (every tab's)."""

    def __init__(self) -> None:
        self._waiting: dict[str, _Waiting] = {}
        self._lock = threading.Lock()

    def approver(self, tab: str, cancel: threading.Event) -> PageApprover:
        """The approver of one turn of the tab ``tab``; ``cancel`` is its Stop."""
        return PageApprover(self, tab, cancel)

    def waiting(self, tab: str) -> list[str]:
        with self._lock:
            return [cid for cid, w in self._waiting.items() if w.tab == tab]

    def decide(self, tab: str, call_id: str, decision: str) -> bool:
        """The user's answer about ``call_id``; False when that call of this tab is not
        waiting (any more)."""
        if decision not in DECISIONS:
            return False
        with self._lock:
            waiting = self._waiting.get(call_id)
            if waiting is None or waiting.tab != tab:
                return False
            waiting.decision = decision  # type: ignore[assignment]
            waiting.decided.set()
            return True

    def wait(self, tab: str, call: PendingCall, cancel: threading.Event) -> Decision:
        waiting = _Waiting(tab, call)
        with self._lock:
            self._waiting[call.call_id] = waiting
        try:
            while not waiting.decided.wait(POLL_SECONDS):
                if cancel.is_set():  # Stop, or the page went away: the loop ends the turn
                    raise KeyboardInterrupt
            return waiting.decision
        finally:
            with self._lock:
                self._waiting.pop(call.call_id, None)


@dataclass
class PageApprover:
    """Asks the page's user about each call (see :class:`Approvals`)."""

    approvals: Approvals
    tab: str
    cancel: threading.Event

    def decide(self, call: PendingCall) -> Decision:
        return self.approvals.wait(self.tab, call, self.cancel)


class PageTools:
    """The app's MCP servers (see the module doc)."""

    def __init__(self, settings: Settings, path: Path | None = None) -> None:
        self.settings = settings
        self.path = path or config_file()
        self.approvals = Approvals()
        self.problem: str | None = None  # why there are no tools (a bad mcp.json)
        self._host: ToolHost | None = None
        self._mtime: float | None = None
        self._lock = threading.Lock()
        self._costs: tuple[Any, ToolCosts] | None = None  # (what they were counted for, costs)

    def start(self) -> None:
        """Start the enabled servers in the background (the app's start)."""
        host = self.host()
        if host is not None:
            host.start()

    def host(self) -> ToolHost | None:
        """The host of ``mcp.json`` as it is now (read again when the file changed); None
        when the file cannot be read (``problem`` says why)."""
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime if self.path.exists() else None
                if self._host is None:
                    config = ToolsConfig.load(self.path)
                    self._host = ToolHost.from_settings(self.settings, config)
                elif mtime != self._mtime:
                    self._host.reload()
                self._mtime, self.problem = mtime, None
            except ToolConfigError as err:
                self.problem = f"Tools are off: {err.message}"
                if err.hint:
                    self.problem += f" ({err.hint})"
                log.warning("%s", self.problem)
                return None
            return self._host

    def runner(self) -> ToolRunner | None:
        """The tools of one turn: the built-in tools switched on and the enabled servers'
        (None: none is on)."""
        host = self.host()
        servers = host is not None and any(host.status(n).state != "off" for n in host.servers)
        return with_builtins(McpTools(host) if servers else None)

    def statuses(self) -> list[ServerStatus]:
        host = self.host()
        return host.statuses() if host is not None else []

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switch a server on or off in ``mcp.json`` (switching it on starts it)."""
        host = self.host()
        if host is None:
            raise SeedchatError(self.problem or "mcp.json cannot be read.")
        host.reload()  # the file as it is now (an "always allow" written since is kept)
        host.set_enabled(name, enabled)
        self._mtime = self.path.stat().st_mtime
        if enabled:
            host.start(name)

    def costs(self, engine: Any) -> ToolCosts:
        """Each ready tool's prompt cost with the loaded model (estimated without one);
        counted again only when the tools or the model change."""
        tools = [t for s in self.statuses() if s.state == "ready" for t in s.tools]
        key = (tuple((t.server, t.name, t.description) for t in tools), id(engine))
        if self._costs is None or self._costs[0] != key:
            self._costs = (key, self._count(tools, engine))
        return self._costs[1]

    def _count(self, tools: list[ToolInfo], engine: Any) -> ToolCosts:
        local = local_engine(engine, templated=True)
        if local is not None:  # a prompt's tokens: its template's tags are special
            tokens = local.tokenize
            return tool_costs(tools, local.template, lambda t: len(tokens(t)), "the model's tokens")
        return tool_costs(tools, seed_template(), count_text(engine), "estimated: no model loaded")

    def close(self) -> None:
        """Stop every server (the app's end)."""
        with self._lock:
            host, self._host = self._host, None
        if host is not None:
            host.close()
