"""run_server_async under trio: the same bounds (H1-H4) with trio's own primitives.

The server runs as a trio *system* task with the caller's context copied in
(as a nursery child would get it), so that a server which swallows
cancellation cannot hold the test's nursery open: after ``stop_timeout`` the
harness raises ServerStopTimeout and leaves it behind.  trio cannot abandon a
task outright, so the end of that trio run still waits for it.  Readiness is
the server's ``ready(...)`` call or an object's ``wait_until_ready()``, then a
TCP connect (wait_for_port, native on trio).  ASGI apps need uvicorn, which is
asyncio-only: under trio, serve them with ``run_server`` (own thread and loop).
"""

from __future__ import annotations

import contextvars
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from pytest_ctxprop.harness.ports import PortTimeoutError, _hostport, wait_for_port
from pytest_ctxprop.harness.server import (
    ReadyHandle,
    ServerAddress,
    ServerStartError,
    ServerStartTimeout,
    ServerStopTimeout,
    _object_ready,
    _param_count,
)

if sys.version_info < (3, 11):  # pragma: no cover - trio depends on the backport there
    from exceptiongroup import BaseExceptionGroup

__all__ = ["run_server_trio"]


def _adapt(target: Any, handle: ReadyHandle) -> tuple[Callable[[], Awaitable[Any]], Any]:
    """(a zero-argument async function running the server, a readiness waiter)."""
    if hasattr(target, "serve") and hasattr(target, "wait_until_ready"):
        return target.serve, lambda: _object_ready(target, handle)
    if callable(target) and _param_count(target) == 1 and inspect.iscoroutinefunction(target):
        return lambda: target(handle), handle.wait
    raise TypeError(
        f"run_server_async cannot start {target!r} under trio: pass an async serve(ready) "
        "function or an object with serve() and wait_until_ready(); ASGI apps (uvicorn) and "
        "asyncio.Event readiness are asyncio-only, use run_server (own thread) for those"
    )


class _ServerTask:
    """The server's system task: its outcome, an event when it ends, a scope to cancel it."""

    def __init__(self, serve: Callable[[], Awaitable[Any]]) -> None:
        import trio

        self.serve = serve
        self.done = trio.Event()
        self.scope = trio.CancelScope()
        self.error: BaseException | None = None

    async def run(self) -> None:
        try:
            with self.scope:
                await self.serve()
        except Exception as exc:  # a system task must not raise: keep it for the caller
            self.error = exc
        finally:
            self.done.set()


async def _first(*waits: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run ``waits`` until the first returns; its result in its slot, None elsewhere."""
    import trio

    results: list[Any] = [None] * len(waits)
    try:
        async with trio.open_nursery() as nursery:
            for index, wait in enumerate(waits):

                async def one(
                    index: int = index, wait: Callable[[], Awaitable[Any]] = wait
                ) -> None:
                    results[index] = (await wait(),)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(one)
    except BaseExceptionGroup as group:  # one waiter failed: its own exception, not a group
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    return results


@asynccontextmanager
async def run_server_trio(
    target: Any,
    *,
    host: str,
    port: int,
    ready_timeout: float,
    stop_timeout: float,
    probe_interval: float,
) -> AsyncIterator[ServerAddress]:
    """trio's run_server_async: same arguments, guarantees and errors."""
    import trio

    handle = ReadyHandle(host, port)
    serve, wait_ready = _adapt(target, handle)
    task = _ServerTask(serve)
    trio.lowlevel.spawn_system_task(
        task.run, name=f"ctxprop-server[{host}:{port}]", context=contextvars.copy_context()
    )
    deadline = trio.current_time() + ready_timeout
    try:
        address = await _start(task, wait_ready, host, port, deadline, ready_timeout)
        with trio.move_on_at(deadline) as probe_scope:
            waited = await _first(
                lambda: wait_for_port(
                    address.host,
                    address.port,
                    max(0.0, deadline - trio.current_time()),
                    probe_interval,
                ),
                task.done.wait,
            )
            if waited[1] is not None:
                _raise_early_end(task)
        if probe_scope.cancelled_caught:
            raise PortTimeoutError(address.host, address.port, ready_timeout, None)
    except PortTimeoutError as exc:
        await _stop(task, handle, stop_timeout)
        raise PortTimeoutError(address.host, address.port, ready_timeout, exc.last_error) from None
    except BaseException:
        await _stop(task, handle, stop_timeout)
        raise
    try:
        yield address
    finally:
        await _stop(task, handle, stop_timeout)
    if task.error is not None:
        raise task.error


def _raise_early_end(task: _ServerTask) -> None:
    if task.error is not None:
        raise task.error
    raise ServerStartError("server task ended before it was ready")


async def _start(
    task: _ServerTask,
    wait_ready: Callable[[], Awaitable[ServerAddress]],
    host: str,
    port: int,
    deadline: float,
    ready_timeout: float,
) -> ServerAddress:
    """Readiness, raced against the server's end (H3) and bounded by the deadline (H2)."""
    import trio

    with trio.move_on_at(deadline):
        ready, _ = await _first(wait_ready, task.done.wait)
        if ready is not None:
            return ready[0]  # type: ignore[no-any-return]
        _raise_early_end(task)
    raise ServerStartTimeout(
        f"server for {_hostport(host, port)} did not signal readiness within {ready_timeout:g} s"
    )


async def _stop(task: _ServerTask, handle: ReadyHandle, stop_timeout: float) -> None:
    """Graceful hooks, then cancel; ServerStopTimeout if the server outlives the bound (H4)."""
    import trio

    if task.done.is_set():
        return
    with trio.move_on_after(stop_timeout):
        for callback in handle._on_stop:
            callback()
        if handle._on_stop:
            with trio.move_on_after(stop_timeout / 2):
                await task.done.wait()
        task.scope.cancel()
        await task.done.wait()
        return
    raise ServerStopTimeout(
        f"server task for {handle.address or _hostport(handle.host, handle.port)} still running "
        f"{stop_timeout:g} s after it was cancelled (it swallows cancellation); it is left "
        "behind and the end of this trio run waits for it"
    )
