"""anyio and trio: ``to_thread.run_sync`` and task groups / nurseries.

anyio documents that ``to_thread.run_sync`` runs the callable in a copy of the
calling task's context, and that tasks started in a task group get a copy of
the spawning task's context; trio documents the same for ``start_soon`` and
``trio.to_thread.run_sync``.  Worker threads are created on demand and reused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from ctxprop_conformance.ecosystem import require
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    Capabilities,
    Traits,
    WorkerInit,
)

_COPY = Traits(
    model="copy",
    reuses_workers=True,
    worker_ambient="no worker start: threads are created on demand",
)


class AnyioToThread(AsyncRuntimeAdapter):
    """``await anyio.to_thread.run_sync(fn, *args, limiter=...)`` on asyncio."""

    task_kind: ClassVar[str] = "sync"  # type: ignore[misc]
    traits: ClassVar[Traits] = _COPY
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)

    def __init__(self) -> None:
        self.anyio = require("anyio", "ecosystem")

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.limiter = self.anyio.CapacityLimiter(workers)

    async def stop(self) -> None:
        pass

    async def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        with self.anyio.fail_after(timeout):
            return await self.anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)


class AnyioToThreadTrio(AnyioToThread):
    """``anyio.to_thread.run_sync`` on the trio backend."""

    backend: ClassVar[str] = "trio"

    def __init__(self) -> None:
        super().__init__()
        require("trio", "ecosystem")


class _Outcome:
    """A task group task's result, awaited by ``result``."""

    def __init__(self, anyio: Any) -> None:
        self.done = anyio.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class AnyioTaskGroup(AsyncRuntimeAdapter):
    """``task_group.start_soon(fn, *args)`` in a group held open for the runtime's life."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient="no workers"
    )
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)

    def __init__(self) -> None:
        self.anyio = require("anyio", "ecosystem")

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        raise AssertionError("lifespan() holds the task group")

    async def stop(self) -> None:
        raise AssertionError("lifespan() holds the task group")

    @asynccontextmanager
    async def lifespan(
        self, *, workers: int, worker_init: WorkerInit | None = None
    ) -> AsyncIterator[None]:
        async with self.open_group() as tg:
            self.tg = tg
            yield
            tg.cancel_scope.cancel()

    def open_group(self) -> Any:
        """The group tasks are started in: the one thing trio's own nursery changes."""
        return self.anyio.create_task_group()

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> tuple[_Outcome, Any]:
        outcome = _Outcome(self.anyio)
        scope = self.anyio.CancelScope()

        async def run() -> None:
            with scope:
                try:
                    outcome.value = await fn(*args)
                except Exception as exc:  # handed to the caller by result()
                    outcome.error = exc
            outcome.done.set()

        self.tg.start_soon(run)
        return outcome, scope

    async def result(self, handle: tuple[_Outcome, Any], timeout: float) -> Any:
        outcome, _ = handle
        with self.anyio.fail_after(timeout):
            await outcome.done.wait()
        if outcome.error is not None:
            raise outcome.error
        return outcome.value

    async def cancel(self, handle: tuple[_Outcome, Any], timeout: float) -> None:
        outcome, scope = handle
        scope.cancel()
        with self.anyio.fail_after(timeout):
            await outcome.done.wait()


class AnyioTaskGroupTrio(AnyioTaskGroup):
    """An anyio task group on the trio backend."""

    backend: ClassVar[str] = "trio"

    def __init__(self) -> None:
        super().__init__()
        require("trio", "ecosystem")


class TrioNursery(AnyioTaskGroup):
    """``nursery.start_soon(fn, *args)`` in a trio nursery held open for the runtime's life."""

    backend: ClassVar[str] = "trio"

    def __init__(self) -> None:
        # trio has the same Event, CancelScope and fail_after the adapter uses from anyio
        self.anyio = require("trio", "ecosystem")

    def open_group(self) -> Any:
        return self.anyio.open_nursery()


class TrioToThread(AnyioToThread):
    """``await trio.to_thread.run_sync(fn, *args, limiter=...)``."""

    backend: ClassVar[str] = "trio"

    def __init__(self) -> None:
        # trio has the same to_thread.run_sync, CapacityLimiter and fail_after
        self.anyio = require("trio", "ecosystem")
