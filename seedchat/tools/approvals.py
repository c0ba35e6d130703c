"""The tools the user chose to "always allow": the one place the rule lives.

The tool loop (the page and ``seedchat chat``) asks here before it asks the user, and
``seedchat tools list`` shows the same answer. It is remembered in one file: a tool of an
MCP server is always allowed when its name is in that server's entry of ``mcp.json``, as
its ``alwaysAllow`` list (the shape Cline and other peers write, so a file copied from a
peer keeps its choices, and removing the server forgets them). A built-in tool (no
server: ``seedchat/tools/builtin/``) is always allowed when its name is in
``builtin_tools.json``'s ``alwaysAllow``, beside the switch that turns it on. Any other tool
of no server has nowhere to be remembered: "always" runs that call once.

The file is written through a temporary file and a rename, so an interrupted write never
leaves a half file; a file that cannot be read counts as allowing nothing (logged), so a
damaged file can only make seedchat ask again, never run a tool unasked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from seedchat.errors import SettingsError
from seedchat.paths import save_text
from seedchat.tools.builtin.config import BuiltinConfig, builtin_functions
from seedchat.tools.config import ToolConfigError, ToolsConfig

log = logging.getLogger(__name__)


def is_always_allowed(tool: str, server: str | None = None) -> bool:
    """Whether ``tool`` of the MCP server ``server`` (None: a built-in tool) runs unasked."""
    if server is None:
        return tool in BuiltinConfig.load().always
    try:
        return ToolsConfig.load().is_always_allowed(server, tool)
    except ToolConfigError as err:
        log.warning("asking about %s: %s", tool, err.message)
        return False


def allow_always(tool: str, server: str | None) -> None:
    """Remember ``tool`` of ``server`` as always allowed (None: nothing to remember).
    Raises a SeedchatError that says why it could not be remembered (the call is then
    allowed once)."""
    if server is not None:
        _change(server, lambda config: config.allow_always(server, tool))
    elif tool in builtin_functions():
        builtins = BuiltinConfig.load()
        builtins.always.add(tool)
        builtins.save()


def forget(tool: str, server: str) -> None:
    """Ask about ``tool`` of ``server`` again from now on."""
    _change(server, lambda config: config.forget_always(server, tool))


def _change(server: str, change: Callable[[ToolsConfig], None]) -> None:
    config = ToolsConfig.load()
    change(config)
    failure = "Cannot remember the tool approval in"
    hint = "Check that seedchat's config folder is writable; the call is allowed once."
    save_text(config.path, config.text(), failure, hint, SettingsError)
