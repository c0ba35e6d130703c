"""A tiny MCP server (the SDK's FastMCP over stdio) for the cases real servers do not
show on demand: a tool that never answers (timeouts, cancel, a kill mid-call), the
server's own process id, and an environment variable as the server sees it."""

from __future__ import annotations

import os
import sys
import time

import anyio
from mcp.server.fastmcp import FastMCP

server = FastMCP("seedchat-test")


@server.tool()
async def hang() -> str:
    """Never answers (the server itself stays responsive)."""
    await anyio.sleep_forever()
    return ""


@server.tool()
def freeze() -> str:
    """Never answers, and blocks the whole server."""
    while True:
        time.sleep(3600)


@server.tool()
def pid() -> str:
    """The server's process id."""
    return str(os.getpid())


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable, or <unset>."""
    return os.environ.get(name, "<unset>")


if __name__ == "__main__":
    print("test server starting", file=sys.stderr)
    server.run("stdio")
