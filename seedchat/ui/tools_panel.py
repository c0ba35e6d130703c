"""The Tools panel: the built-in tools (:mod:`seedchat.ui.builtin_box`), the MCP servers of
``mcp.json`` and the tools of the conversation.

- **Servers** (``#tool-servers``): one switch per server of ``mcp.json``; switching one
  off writes ``"disabled": true`` into the file and stops it, switching it on starts it
  (:meth:`~seedchat.ui.page_tools.PageTools.set_enabled`, the same file and the same
  entries as ``seedchat tools enable|disable``).
- **Status** (``#tools-status``): each server's state, its error when it failed to start
  or crashed (with the tail of its stderr), its tools and what each costs in the prompt,
  in the loaded model's tokens.
- **Tools in this conversation** (``#conversation-tools``): a switch per tool of the
  running servers; what is switched off is the conversation's ``tools_off``
  (:class:`~seedchat.settings.ChatSettings`), saved with its settings and restored when
  it is opened again.

The panel also holds the hidden box that a card's *Allow once / Always allow / Deny*
links write (:data:`APPROVAL_JS`), and hands the decision to the waiting call.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from seedchat.errors import SeedchatError
from seedchat.tools.cost import ToolCosts
from seedchat.tools.mcp_tools import tool_key
from seedchat.tools.results import ServerStatus
from seedchat.ui.builtin_box import BuiltinBox
from seedchat.ui.page_tools import PageTools
from seedchat.ui.tool_cards import APPROVAL_LINK, code_block, escape_markdown
from seedchat.ui.updates import error_update, tab_key

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # the panel follows the servers' states this often

# The page's script: a click on a card's link becomes the hidden #tool-decision box's new
# value ("tool-once-ID <time>"), which its change event reads.
APPROVAL_JS = f"""
() => {{
  if (window.seedchatTools) return [];
  window.seedchatTools = true;
  document.addEventListener("click", (event) => {{
    const link = event.target.closest?.('#chatbot a[href^="{APPROVAL_LINK}"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const box = document.querySelector("#tool-decision textarea, #tool-decision input");
    if (!box) return;
    box.value = link.getAttribute("href").slice(1) + " " + Date.now();
    box.dispatchEvent(new Event("input", {{ bubbles: true }}));
  }}, true);
  return [];
}}
"""


def status_markdown(statuses: list[ServerStatus], costs: ToolCosts, problem: str | None) -> str:
    """The servers, their errors and their tools with their prompt cost."""
    if problem:
        return f"**{escape_markdown(problem)}**"
    if not statuses:
        return (
            "No MCP servers yet. Add one with `seedchat tools add` (or `seedchat tools "
            "import`), then reload the page."
        )
    lines = []
    for s in statuses:
        lines.append(f"**{escape_markdown(s.name)}** — {s.state} · `{s.transport}`")
        if s.error:
            lines.append(code_block(s.error))
        for t in s.tools:
            tokens = costs.per_tool.get((s.name, t.name))
            cost = f" · {tokens} tokens" if tokens is not None else ""
            lines.append(f"- {escape_markdown(t.name)}{cost}")
    if costs.total:
        lines.append(f"*{costs.total} prompt tokens in all ({escape_markdown(costs.basis)}).*")
    return "\n\n".join(lines)


def tool_choices(statuses: list[ServerStatus], off: list[str]) -> tuple[list[Any], list[str]]:
    """The conversation's switches: (label, key) of every ready tool, and those on."""
    choices, on = [], []
    for s in statuses:
        for t in s.tools if s.state == "ready" else ():
            key = tool_key(s.name, t.name)
            choices.append((f"{t.name} ({s.name})", key))
            if key not in off and s.name not in off:
                on.append(key)
    return choices, on


class ToolsPanel:
    """Lays out the panel (call inside a column); ``wire`` connects it."""

    def __init__(self, tools: PageTools) -> None:
        self.tools = tools
        self.builtins = BuiltinBox()
        self.servers = gr.CheckboxGroup(
            label="MCP servers (mcp.json)", choices=[], value=[], elem_id="tool-servers"
        )
        self.chosen = gr.CheckboxGroup(
            label="Tools in this conversation", choices=[], value=[], elem_id="conversation-tools"
        )
        self.status = gr.Markdown("", elem_id="tools-status")
        self.refresh = gr.Button("Refresh", size="sm", elem_id="tools-refresh")
        self.poll = gr.Timer(POLL_SECONDS)
        self.decision: Any = None

    def place_decision_box(self) -> None:
        """The hidden box APPROVAL_JS writes: call it outside a closed drawer (gradio
        does not render what a closed accordion holds)."""
        self.decision = gr.Textbox(visible="hidden", elem_id="tool-decision", show_label=False)

    def view(self, off: list[str], engine: Any) -> tuple[Any, Any, str]:
        """Updates for the servers' switches, the conversation's switches, the status."""
        statuses = self.tools.statuses()
        try:
            costs = self.tools.costs(engine)
        except SeedchatError as err:
            log.warning("could not count the tools' cost: %s", err)
            costs = ToolCosts()
        names = [s.name for s in statuses]
        on = [s.name for s in statuses if s.state != "off"]
        choices, chosen = tool_choices(statuses, list(off or ()))
        return (
            gr.update(choices=names, value=on),
            gr.update(choices=choices, value=chosen),
            status_markdown(statuses, costs, self.tools.problem),
        )

    def wire(self, tools_off: Any, model: Any, error_box: Any) -> None:
        """``tools_off`` is the settings panel's state of the conversation's choice;
        ``model`` the app's model host (the tools' cost is counted with its model)."""
        shown = [self.servers, self.chosen, self.status]
        self.builtins.wire(self.refresh, error_box)

        def refresh(off: list[str]) -> tuple[Any, Any, str]:
            return self.view(off, model.engine)

        for event in (self.refresh.click, self.poll.tick, tools_off.change):
            event(refresh, tools_off, shown, queue=False)

        def on_servers(wanted: list[str], off: list[str]) -> tuple[Any, ...]:
            try:
                for s in self.tools.statuses():
                    if (s.state != "off") != (s.name in wanted):
                        self.tools.set_enabled(s.name, s.name in wanted)
            except SeedchatError as err:
                return (*refresh(off), error_update(err))
            return (*refresh(off), error_update(None))

        self.servers.input(on_servers, [self.servers, tools_off], [*shown, error_box])

        def on_chosen(wanted: list[str], off: list[str]) -> list[str]:
            choices, _ = tool_choices(self.tools.statuses(), [])
            keys = {key for _, key in choices}
            servers = {key.split("/", 1)[0] for key in keys}
            kept = [k for k in off or () if k not in keys and k not in servers]
            return sorted({*kept, *(k for k in keys if k not in wanted)})

        self.chosen.input(on_chosen, [self.chosen, tools_off], tools_off, queue=False)

        def on_decision(request: gr.Request, value: str) -> None:
            link = (value or "").split(" ")[0].removeprefix(APPROVAL_LINK.lstrip("#"))
            decision, _, call_id = link.partition("-")
            if not self.tools.approvals.decide(tab_key(request), call_id, decision):
                log.info("no call %s waits for a decision in this tab", call_id)

        self.decision.change(on_decision, self.decision, None, queue=False)
