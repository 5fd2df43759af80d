"""Adapters that put the reference runtimes under the conformance suite.

They double as worked examples of the adapter contract (docs/adapters.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar

from ctxprop_conformance import stdlib_runtimes
from ctxprop_conformance.pools import warm_thread_pool
from ctxprop_reference.aio import AwaitedCall, PendingCall, offload, spawn
from ctxprop_reference.threads import (
    ContextThread,
    ContextThreadPoolExecutor,
    RegisteredVarsThreadPoolExecutor,
)
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    RuntimeAdapter,
    Traits,
    Unsupported,
    WorkerInit,
)

_NOT_VISIBLE = "tasks see only the caller's snapshot; worker-start values are not visible"


class ThreadAdapter(stdlib_runtimes.ThreadAdapter):
    """``ContextThread`` per task (the stdlib thread adapter with one line changed)."""

    def new_thread(self, target: Callable[[], None]) -> threading.Thread:
        return ContextThread(target=target, daemon=True)


class ThreadPoolAdapter(RuntimeAdapter):
    """``ContextThreadPoolExecutor.submit``."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient=_NOT_VISIBLE
    )

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = ContextThreadPoolExecutor(workers, initializer=worker_init)
        warm_thread_pool(self.pool, workers)

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.pool.submit(fn, *args)

    def result(self, handle: Future[Any], timeout: float) -> Any:
        return handle.result(timeout)


class RegisteredVarsPoolAdapter(ThreadPoolAdapter):
    """``RegisteredVarsThreadPoolExecutor``: only registered vars travel."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, vars_travel="registered", worker_ambient=_NOT_VISIBLE
    )

    def __init__(self) -> None:
        self._registered: list[contextvars.ContextVar[Any]] = []

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        self._registered.append(var)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = RegisteredVarsThreadPoolExecutor(workers, initializer=worker_init)
        for var in self._registered:
            self.pool.register(var)
        warm_thread_pool(self.pool, workers)


class _TaskCancel:
    async def cancel(self, handle: Any, timeout: float) -> None:
        task = handle.task if isinstance(handle, PendingCall) else handle
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
        if not task.done():
            raise TimeoutError(f"task ignored cancellation for {timeout}s")


class TaskAdapter(_TaskCancel, AsyncRuntimeAdapter):
    """``ctxprop_reference.aio.spawn``: tasks in a copy of the caller's context."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient="no workers"
    )

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        if worker_init is not None:
            raise Unsupported("tasks run on the caller's loop: there is no worker start")

    async def stop(self) -> None:
        pass

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Task[Any]:
        return spawn(fn(*args))

    async def result(self, handle: asyncio.Task[Any], timeout: float) -> Any:
        return await asyncio.wait_for(asyncio.shield(handle), timeout)


class OffloadAdapter(AsyncRuntimeAdapter):
    """``ctxprop_reference.aio.offload``: sync callables on a pool, awaited by the caller."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient=_NOT_VISIBLE
    )

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = ContextThreadPoolExecutor(workers, initializer=worker_init)
        warm_thread_pool(self.pool, workers)

    async def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Future[Any]:
        return offload(fn, *args, executor=self.pool)

    async def result(self, handle: asyncio.Future[Any], timeout: float) -> Any:
        return await asyncio.wait_for(asyncio.shield(handle), timeout)


class AwaitedCallAdapter(_TaskCancel, AsyncRuntimeAdapter):
    """``ctxprop_reference.aio.AwaitedCall``: the awaited-call model."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="awaited-call",
        reuses_workers=True,
        worker_ambient="no workers",
        error_changes="dropped: a task that raises leaves the caller's context as it was",
    )

    def __init__(self) -> None:
        self.calls = AwaitedCall()

    def declare_forward_only(self, var: contextvars.ContextVar[Any]) -> None:
        self.calls.forward_only.add(var)

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        if worker_init is not None:
            raise Unsupported("tasks run on the caller's loop: there is no worker start")

    async def stop(self) -> None:
        pass

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> PendingCall:
        return self.calls.submit(fn, *args)

    async def result(self, handle: PendingCall, timeout: float) -> Any:
        return await self.calls.result(handle, timeout)
