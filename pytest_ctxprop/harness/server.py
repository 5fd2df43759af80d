"""Start a server, yield its address only once it is ready, stop it within a bound (H1-H5).

What counts as "ready" is the server's own signal, then a TCP connect to the
address it reported: never a fixed sleep.  The server task is watched while we
wait, so a server that dies first raises its own exception at once instead of
leaving the test waiting on a signal that will never come.

Accepted targets (see docs/fixtures.md):

* ``async def serve(ready)``: binds ``(ready.host, ready.port)`` (port 0 by
  default) and calls ``ready(host, port)`` or ``ready(sock.getsockname())``
  with the address it really bound (H5);
* an object with ``async serve()`` and a readiness signal: an ``asyncio.Event``
  attribute ``ready`` or an awaitable ``wait_until_ready()`` that may return
  ``(host, port)``; otherwise its ``address`` attribute or the ``host``/``port``
  given here name the address;
* an ASGI application (``app(scope, receive, send)``), served by uvicorn.

Under trio (directly or through anyio) the same bounds hold for ``serve(ready)``
functions and objects with ``wait_until_ready()`` (see server_trio); uvicorn
and ``asyncio.Event`` readiness are asyncio-only.

A task that swallows every cancellation (the server, or an object's readiness
waiter) cannot be stopped from inside the process.  Once its bound is spent it
is *abandoned*: taken off the loop's task list, so the loop's own teardown
(pytest-asyncio's, anyio's, ``asyncio.run``'s) does not wait for it forever,
and kept in :data:`ABANDONED`, where the leak guard still sees it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pytest_ctxprop.harness.ports import (
    PortTimeoutError,
    _async_library,
    _hostport,
    wait_for_port,
)

__all__ = [
    "ABANDONED",
    "ReadyHandle",
    "ServerAddress",
    "ServerStartError",
    "ServerStartTimeout",
    "ServerStopTimeout",
    "run_server_async",
]

_CANCEL_RETRY = 0.05  # seconds between cancellations of a server that swallowed one

#: tasks given up on because they swallow cancellation: never collected, never awaited
ABANDONED: list[asyncio.Task[Any]] = []


def abandon(task: asyncio.Task[Any]) -> None:
    """Let the loop close without waiting for ``task``, which ignores cancellation."""
    ABANDONED.append(task)  # a strong reference: no "destroyed but pending" at collection
    task._log_destroy_pending = False  # type: ignore[attr-defined]
    asyncio.tasks._unregister_task(task)  # public for custom task types: off all_tasks()


@dataclass(frozen=True)
class ServerAddress:
    """Where a started server listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """``http://host:port``, the form most clients take."""
        return f"http://{_hostport(self.host, self.port)}"

    def __str__(self) -> str:
        return _hostport(self.host, self.port)


class ServerStartError(RuntimeError):
    """The server stopped before it signalled readiness, without an exception of its own."""


class ServerStartTimeout(TimeoutError):
    """The server did not signal readiness within the start-up bound."""


class ServerStopTimeout(TimeoutError):
    """The server was still running ``stop_timeout`` seconds after it was told to stop."""


class ReadyHandle:
    """Handed to ``serve(ready)``: the address to bind, and the callback to report readiness.

    ``host``/``port`` are what the caller asked for (port 0: let the kernel
    choose).  Call ``ready(host, port)``, ``ready((host, port, ...))`` or
    ``ready(port)`` once the socket listens; the harness yields that address.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.address: ServerAddress | None = None
        self._thread = threading.get_ident()
        self._on_stop: list[Callable[[], None]] = []
        self._set_soon: Callable[[Callable[[], None]], Any]
        if _async_library() == "trio":
            import trio

            self._event: Any = trio.Event()
            self._set_soon = trio.lowlevel.current_trio_token().run_sync_soon
        else:
            self._event = asyncio.Event()
            self._set_soon = asyncio.get_running_loop().call_soon_threadsafe

    def __call__(self, host: Any = None, port: int | None = None) -> None:
        if isinstance(host, tuple):
            host, port = host[0], host[1]
        elif isinstance(host, int) and port is None:
            host, port = None, host
        if port is None:
            raise TypeError("ready() needs the bound port: ready(host, port) or ready(port)")
        self.address = ServerAddress(str(host) if host is not None else self.host, int(port))
        if threading.get_ident() == self._thread:
            self._event.set()
        else:
            self._set_soon(self._event.set)

    @property
    def is_set(self) -> bool:
        """Whether the server has reported readiness."""
        return self._event.is_set()

    async def wait(self) -> ServerAddress:
        """Wait for ``ready(...)``; return the address reported."""
        await self._event.wait()
        assert self.address is not None
        return self.address

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Ask to be told before cancellation: a graceful stop that the harness tries first."""
        self._on_stop.append(callback)


def _param_count(fn: Callable[..., Any]) -> int | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _adapt(
    target: Any, handle: ReadyHandle
) -> tuple[Coroutine[Any, Any, Any], Callable[[], Awaitable[ServerAddress]]]:
    """Turn a target into (the coroutine to run, a coroutine function waiting for readiness)."""
    if hasattr(target, "serve") and (
        hasattr(target, "wait_until_ready")
        or isinstance(getattr(target, "ready", None), asyncio.Event)
    ):
        return target.serve(), lambda: _object_ready(target, handle)
    if callable(target):
        count = _param_count(target)
        if count == 3:  # ASGI: app(scope, receive, send)
            from pytest_ctxprop.harness._asgi import serve_asgi

            return serve_asgi(target, handle), handle.wait
        if count == 1:
            coro = target(handle)
            if inspect.isawaitable(coro):
                return coro, handle.wait  # type: ignore[return-value]
    raise TypeError(
        f"run_server_async cannot start {target!r}: pass an async serve(ready) function, "
        "an object with serve() and ready/wait_until_ready(), or an ASGI app"
    )


async def _object_ready(server: Any, handle: ReadyHandle) -> ServerAddress:
    """Readiness for server objects: their event or wait_until_ready(), then their address."""
    waiter = getattr(server, "wait_until_ready", None)
    reported = await waiter() if waiter is not None else await server.ready.wait()
    address = reported if isinstance(reported, tuple) else getattr(server, "address", None)
    if isinstance(address, tuple):
        return ServerAddress(str(address[0]), int(address[1]))
    if handle.port:
        return ServerAddress(handle.host, handle.port)
    raise ServerStartError(
        f"{server!r} signalled readiness but reported no address; with port 0 its "
        "wait_until_ready() must return (host, port) or it must expose .address"
    )


async def _race(
    server: asyncio.Task[Any], waiter: Awaitable[Any], timeout: float, stop_timeout: float
) -> Any:
    """Await ``waiter`` for at most ``timeout`` s, failing at once if ``server`` ends first (H3).

    A waiter that swallows its cancellation is abandoned after ``stop_timeout`` s.
    """
    wait_task = asyncio.ensure_future(waiter)
    try:
        done, _ = await asyncio.wait(
            {server, wait_task}, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED
        )
        if wait_task in done:
            return wait_task.result()
        if server in done:
            if not server.cancelled() and server.exception() is not None:
                raise server.exception()  # type: ignore[misc]
            raise ServerStartError(f"server task {server.get_name()} ended before it was ready")
        raise asyncio.TimeoutError
    finally:
        if not wait_task.done():
            wait_task.cancel()
            await asyncio.wait({wait_task}, timeout=stop_timeout)
            if not wait_task.done():
                abandon(wait_task)


async def _stop(
    server: asyncio.Task[Any], handle: ReadyHandle, stop_timeout: float
) -> BaseException | None:
    """Stop the server within ``stop_timeout`` s: graceful hooks, then repeated cancellation (H4).

    Returns the exception the server died with (None if it stopped cleanly or
    was cancelled).  Raises ServerStopTimeout if it outlives the bound.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stop_timeout
    if not server.done():
        for callback in handle._on_stop:
            callback()
        if handle._on_stop:
            await asyncio.wait({server}, timeout=max(0.0, stop_timeout / 2))
    while not server.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            abandon(server)
            raise ServerStopTimeout(
                f"server task {server.get_name()} still running {stop_timeout:g} s after "
                "it was cancelled (it swallows cancellation); it is abandoned and leaked"
            )
        server.cancel()
        await asyncio.wait({server}, timeout=min(_CANCEL_RETRY, remaining))
    if server.cancelled():
        return None
    return server.exception()


@asynccontextmanager
async def run_server_async(
    target: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_timeout: float = 10.0,
    stop_timeout: float = 5.0,
    probe_interval: float = 0.01,
) -> AsyncIterator[ServerAddress]:
    """Run ``target`` on the current loop; yield its address once it is ready and reachable.

    Start-up is bounded by ``ready_timeout`` (readiness signal and port probe
    together), teardown by ``stop_timeout``.  A server that raises before it is
    ready re-raises its own exception here; one that raises after it was ready
    re-raises at exit.  Runs on asyncio and on trio (anyio's backends alike).
    """
    if _async_library() == "trio":
        from pytest_ctxprop.harness.server_trio import run_server_trio

        async with run_server_trio(
            target,
            host=host,
            port=port,
            ready_timeout=ready_timeout,
            stop_timeout=stop_timeout,
            probe_interval=probe_interval,
        ) as address:
            yield address
        return
    loop = asyncio.get_running_loop()
    handle = ReadyHandle(host, port)
    coro, wait_ready = _adapt(target, handle)
    server = loop.create_task(coro, name=f"ctxprop-server[{host}:{port}]")
    deadline = loop.time() + ready_timeout
    try:
        try:
            address: ServerAddress = await _race(server, wait_ready(), ready_timeout, stop_timeout)
        except asyncio.TimeoutError:
            raise ServerStartTimeout(
                f"server for {_hostport(host, port)} did not signal readiness "
                f"within {ready_timeout:g} s"
            ) from None
        probe = wait_for_port(
            address.host, address.port, max(0.0, deadline - loop.time()), probe_interval
        )
        try:
            await _race(server, probe, ready_timeout + probe_interval, stop_timeout)
        except PortTimeoutError as exc:  # name the whole start-up bound, not what was left of it
            raise PortTimeoutError(
                address.host, address.port, ready_timeout, exc.last_error
            ) from None
    except BaseException:
        await _stop(server, handle, stop_timeout)
        raise
    crashed: BaseException | None = None
    try:
        yield address
    finally:
        crashed = await _stop(server, handle, stop_timeout)
    if crashed is not None:
        raise crashed
