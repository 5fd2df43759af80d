"""Deliberately broken harness fixtures, one per H property, and the test servers they meet.

Each H test runs the same check against the real fixture (must pass) and
against the broken one here (the check must catch it).  The servers are
driven by gates (asyncio events) that the tests open, never by timing.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pytest_ctxprop.harness.server import ReadyHandle, ServerAddress, run_server_async


async def _drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@dataclass
class ServerState:
    """What a test server did, for the checks to inspect."""

    ready_called: bool = False
    listening: bool = False
    bound_port: int | None = None
    requested_port: int | None = None
    escape: asyncio.Event = field(default_factory=asyncio.Event)


def gated_server(state: ServerState, gate: asyncio.Event, *, lie: bool = False) -> Any:
    """A server that starts only when ``gate`` opens.

    ``lie=True``: it reports ready (with its bound port) *before* it listens,
    and listens only once ``gate`` opens: readiness alone is not reachability.
    """

    async def serve(ready: ReadyHandle) -> None:
        state.requested_port = ready.port
        if lie:
            sock = socket.socket()
            try:
                sock.bind((ready.host, ready.port))
                state.bound_port = sock.getsockname()[1]
                state.ready_called = True
                ready(sock.getsockname())
                await gate.wait()
                server = await asyncio.start_server(_drop, sock=sock)
            except BaseException:
                sock.close()
                raise
        else:
            await gate.wait()
            server = await asyncio.start_server(_drop, ready.host, ready.port)
            state.bound_port = server.sockets[0].getsockname()[1]
            state.ready_called = True
            ready(server.sockets[0].getsockname())
        state.listening = True
        async with server:
            await server.serve_forever()

    return serve


def stubborn_server(state: ServerState, *, forever: bool = False) -> Any:
    """A server that swallows cancellation: once, or (``forever``) until ``state.escape`` is set."""

    async def serve(ready: ReadyHandle) -> None:
        server = await asyncio.start_server(_drop, ready.host, ready.port)
        state.bound_port = server.sockets[0].getsockname()[1]
        ready(server.sockets[0].getsockname())
        try:
            while True:
                try:
                    await state.escape.wait()
                    return
                except asyncio.CancelledError:
                    if not forever:
                        break  # swallowed once; keeps serving until cancelled again
            await asyncio.Event().wait()
        finally:
            server.close()
            await server.wait_closed()

    return serve


# --- broken fixtures ---------------------------------------------------------------------


@asynccontextmanager
async def fixed_sleep(target: Any, **kw: Any) -> AsyncIterator[ServerAddress]:
    """H1 broken: start the server, sleep 100 ms, hope it is up."""
    handle = ReadyHandle(kw.get("host", "127.0.0.1"), kw.get("port", 0))
    task = asyncio.ensure_future(target(handle))
    await asyncio.sleep(0.1)
    try:
        yield handle.address or ServerAddress(handle.host, handle.port)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def readiness_only(target: Any, **kw: Any) -> AsyncIterator[ServerAddress]:
    """H1 broken: trust the readiness signal, never probe the port."""
    handle = ReadyHandle(kw.get("host", "127.0.0.1"), kw.get("port", 0))
    task = asyncio.ensure_future(target(handle))
    try:
        yield await handle.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


#: H3 broken: the same code as readiness_only, seen from the other side: it waits for
#: readiness with no timeout, blind to the server dying first
unbounded_wait = readiness_only


@asynccontextmanager
async def unbounded_teardown(target: Any, **kw: Any) -> AsyncIterator[ServerAddress]:
    """H4 broken: cancel once and wait for the server however long it takes."""
    handle = ReadyHandle(kw.get("host", "127.0.0.1"), kw.get("port", 0))
    task = asyncio.ensure_future(target(handle))
    try:
        yield await handle.wait()
    finally:
        task.cancel()
        await asyncio.wait({task})


@asynccontextmanager
async def find_then_bind(target: Any, **kw: Any) -> AsyncIterator[ServerAddress]:
    """H5 broken: find a free port, close it, then tell the server to bind it."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    async with run_server_async(target, host="127.0.0.1", port=port, **kw) as address:
        yield address
