"""The official ``mcp`` Python SDK behind one module: the only one that imports it.

seedchat uses the SDK's 1.x line (``mcp>=1.24,<2``), chosen deliberately: 2.x (2026)
renamed the client API (``Client``, snake_case fields, ``httpx2``) and the packages seedchat
lives beside still pin ``mcp<2`` — gradio's own ``mcp`` extra (seedchat's page is gradio)
and several servers that users install into the same Python. 1.x speaks the same protocol
to every server, 2.x ones included; moving to 2.x is this one module.

:func:`connect` opens one server — a child process over stdio, or a Streamable HTTP URL —
initializes the session and yields a :class:`Connection` whose ``closed`` event is set when
the server goes away (a stdio child that exits or is killed). The SDK's types become
seedchat's (:mod:`seedchat.tools.results`) here, so nothing else sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Any

import anyio
import httpx
from mcp import ClientSession, McpError, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from seedchat.tools.config import ServerEntry
from seedchat.tools.results import ContentPart, ToolInfo


@dataclass
class Connection:
    """One initialized session with a server."""

    session: ClientSession
    closed: asyncio.Event
    server: str
    server_name: str = ""  # what the server calls itself (initialize's serverInfo)

    async def list_tools(self) -> list[ToolInfo]:
        tools: list[ToolInfo] = []
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await self.session.list_tools(params=params)
            tools += [_tool_info(self.server, t) for t in page.tools]
            cursor = page.nextCursor
            if not cursor:
                return tools

    async def call_tool(
        self, tool: str, arguments: dict[str, Any]
    ) -> tuple[list[ContentPart], dict[str, Any] | None, bool]:
        """(parts, structured content, the server's isError). A lost connection raises
        an error :func:`is_connection_lost` knows; the timeout is the caller's."""
        result = await self.session.call_tool(tool, arguments)
        parts = [_part(c) for c in result.content]
        return parts, result.structuredContent, bool(result.isError)


def _tool_info(server: str, tool: types.Tool) -> ToolInfo:
    return ToolInfo(
        server=server,
        name=tool.name,
        description=tool.description or "",
        input_schema=dict(tool.inputSchema or {}),
        title=tool.title or (tool.annotations.title if tool.annotations else None),
        output_schema=dict(tool.outputSchema) if tool.outputSchema else None,
    )


def _part(content: Any) -> ContentPart:
    if isinstance(content, types.TextContent):
        return ContentPart("text", text=content.text)
    if isinstance(content, types.ImageContent):
        return ContentPart("image", data=content.data, mime_type=content.mimeType)
    if isinstance(content, types.AudioContent):
        return ContentPart("audio", data=content.data, mime_type=content.mimeType)
    if isinstance(content, types.ResourceLink):
        return ContentPart(
            "resource_link", uri=str(content.uri), name=content.name, mime_type=content.mimeType
        )
    if isinstance(content, types.EmbeddedResource):
        res = content.resource
        text = res.text if isinstance(res, types.TextResourceContents) else None
        data = res.blob if isinstance(res, types.BlobResourceContents) else None
        return ContentPart(
            "resource", text=text, data=data, uri=str(res.uri), mime_type=res.mimeType
        )
    return ContentPart("text", text=str(content))


def is_connection_lost(exc: BaseException) -> bool:
    """The server went away: the SDK says so, or (a child that exited before the client's
    first message) writing to its closed pipe failed."""
    if isinstance(exc, (anyio.BrokenResourceError, anyio.ClosedResourceError, BrokenPipeError)):
        return True
    return isinstance(exc, McpError) and exc.error.code == types.CONNECTION_CLOSED


@contextlib.asynccontextmanager
async def _transport(entry: ServerEntry, env: dict[str, str], errlog: IO[str]) -> AsyncIterator:
    if entry.url:
        client = httpx.AsyncClient(
            headers=entry.headers, timeout=httpx.Timeout(30.0, read=300.0), follow_redirects=True
        )
        async with client, streamable_http_client(entry.url, http_client=client) as streams:
            yield streams[0], streams[1]
    else:
        params = StdioServerParameters(
            command=entry.command or "", args=list(entry.args), env=env, cwd=entry.cwd
        )
        async with stdio_client(params, errlog=errlog) as streams:
            yield streams


@contextlib.asynccontextmanager
async def connect(
    entry: ServerEntry, env: dict[str, str], errlog: IO[str], start_timeout: float
) -> AsyncIterator[Connection]:
    """Start (stdio) or reach (HTTP) ``entry``'s server and initialize a session.

    ``env`` is the child's whole environment (the SDK adds only its own allow-list:
    HOME, LOGNAME, PATH, SHELL, TERM, USER); the child's stderr goes to ``errlog``.
    Leaving the block ends the session and stops the child (stdin closed, then SIGTERM,
    then SIGKILL to its process group)."""
    closed = asyncio.Event()
    async with _transport(entry, env, errlog) as (read, write):
        relay_send, relay_recv = anyio.create_memory_object_stream(0)

        async def relay() -> None:
            # The transport's stream ends when the child exits: the session then fails
            # its pending calls, and ``closed`` tells the host.
            try:
                async with relay_send:
                    async for message in read:
                        await relay_send.send(message)
            finally:
                closed.set()

        async with anyio.create_task_group() as group:
            group.start_soon(relay)
            async with ClientSession(relay_recv, write) as session:
                with anyio.fail_after(start_timeout):
                    info = await session.initialize()
                yield Connection(session, closed, entry.name, info.serverInfo.name)
            group.cancel_scope.cancel()
