"""Broken runtimes for SPEC section I (isolation), one bug each.

Each class docstring's first line names the real-world bug it models.  Each must
fail its own property and no other (see the notes under each docstring).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pytest_ctxprop.adapter import AsyncRuntimeAdapter, Traits, WorkerInit
from tests.broken_runtimes._base import PoolRuntime

_MISSING = object()

# -- I1 ----------------------------------------------------------------------------------


class MergesBackOnResult(PoolRuntime):
    """I1: declares model=copy but copies the task's changed vars back into the caller on result.

    Only I1 (model=copy) reads the caller's own vars after a task changed them;
    isolation follow-ups run from a copy of the caller (``call_aside``).
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        before = dict(contextvars.copy_context())
        return super().submit(fn, *args), before

    def run_task(self, captured: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        def body() -> tuple[Any, contextvars.Context]:
            return fn(*args), contextvars.copy_context()

        return captured.run(body)

    def result(self, handle: Any, timeout: float) -> Any:
        future, before = handle
        value, after = future.result(timeout)
        for var, new in after.items():
            if before.get(var, _MISSING) is not new:
                var.set(new)  # the bug: the caller's context is not the task's to change
        return value


# -- I2 ----------------------------------------------------------------------------------


class SnapshotCachedByKeys(PoolRuntime):
    """I2: re-takes the snapshot only when the set of vars changes, not their values.

    A per-calling-thread cache whose change check compares var *names*, not
    values.  Only I2 submits twice from one thread with the same vars set to
    different values.
    """

    def __init__(self) -> None:
        self._cache = threading.local()

    def capture(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        current = contextvars.copy_context()
        keys = frozenset(current.keys())
        if getattr(self._cache, "keys", None) != keys:
            self._cache.keys, self._cache.snapshot = keys, current
        return self._cache.snapshot.copy()


# -- I3, I4 ------------------------------------------------------------------------------


class _WorkerContextPool(PoolRuntime):
    """Each worker thread runs its tasks in one long-lived context, cleaned between tasks."""

    def __init__(self) -> None:
        self._worker = threading.local()

    def worker_context(self) -> contextvars.Context:
        context = getattr(self._worker, "context", None)
        if context is None:
            context = self._worker.context = contextvars.Context()
        return context

    def clean(self) -> None:
        self._worker.context = contextvars.Context()

    def enter(self, captured: Any) -> contextvars.Context:
        """The worker's context with the caller's snapshot applied over it."""
        context = self.worker_context()
        for var, value in captured.items():
            context.run(var.set, value)
        return context


class WorkerContextReusedUntilFailure(_WorkerContextPool):
    """I3: reuses the worker's context across tasks (rebuilt only when a failed task recycles it).

    A value a successful task set stays for the worker's next task.  I4's first
    task raises, so its worker is recycled: only I3 has a successful task set a
    var before another runs on the same worker.
    """

    def run_task(self, captured: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        context = self.enter(captured)
        try:
            return context.run(fn, *args)
        except BaseException:
            self.clean()  # a failed task recycles the worker; a successful one does not
            raise


class CleanupSkippedOnError(_WorkerContextPool):
    """I4: cleans the worker's context after a task returns, not when it raises (no ``finally``).

    The exception itself reaches the caller intact.  Only I4 has a task raise
    before another runs on the same worker.
    """

    def run_task(self, captured: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        context = self.enter(captured)
        value = context.run(fn, *args)
        self.clean()  # the bug: skipped when fn raises
        return value


# -- I5 ----------------------------------------------------------------------------------


@dataclass
class _Job:
    fn: Callable[..., Coroutine[Any, Any, Any]]
    args: tuple[Any, ...]
    snapshot: contextvars.Context
    future: asyncio.Future[Any]
    task: asyncio.Task[Any] | None = field(default=None)


@dataclass
class _Worker:
    base: contextvars.Context
    context: contextvars.Context
    task: asyncio.Task[None] | None = field(default=None)


async def _adopting(worker: _Worker, coro: Coroutine[Any, Any, Any]) -> Any:
    """Python 3.10 has no ``create_task(context=)``: run in a copy, then adopt its end state."""
    try:
        return await coro
    finally:
        worker.context = contextvars.copy_context()


def _run_in(worker: _Worker, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """A task running *in* the worker's context object (its changes land there)."""
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 11):
        return loop.create_task(coro, context=worker.context)
    return worker.context.run(loop.create_task, _adopting(worker, coro))  # pragma: no cover


class CancelSkipsReset(AsyncRuntimeAdapter):
    """I5: an early ``continue`` for cancelled jobs skips the worker's context reset.

    Asyncio workers pull jobs from a queue and run each in the worker's
    long-lived context, resetting it after the job.  Returned and raised jobs
    are reset; a cancelled one leaves what it set for the worker's next job.
    Only I5 cancels a job.
    """

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy",
        reuses_workers=True,
        worker_ambient="visible: jobs start from the worker's context, where worker_init ran",
    )

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._workers = []
        for _ in range(workers):
            base = contextvars.Context()
            if worker_init is not None:
                base.run(worker_init)
            worker = _Worker(base, base.copy())
            worker.task = asyncio.get_running_loop().create_task(self._serve(worker))
            self._workers.append(worker)

    async def stop(self) -> None:
        tasks = {w.task for w in self._workers if w.task is not None}
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=5)

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> _Job:
        loop = asyncio.get_running_loop()
        job = _Job(fn, args, contextvars.copy_context(), loop.create_future())
        self._queue.put_nowait(job)
        return job

    async def result(self, handle: _Job, timeout: float) -> Any:
        return await asyncio.wait_for(asyncio.shield(handle.future), timeout)

    async def cancel(self, handle: _Job, timeout: float) -> None:
        if handle.task is None:
            raise RuntimeError("the job has not started")
        handle.task.cancel()
        await asyncio.wait({handle.task}, timeout=timeout)
        if not handle.task.done():
            raise TimeoutError(f"job ignored cancellation for {timeout}s")

    @staticmethod
    async def _body(job: _Job) -> Any:
        for var, value in job.snapshot.items():
            var.set(value)
        return await job.fn(*job.args)

    async def _serve(self, worker: _Worker) -> None:
        while True:
            job = await self._queue.get()
            job.task = _run_in(worker, self._body(job))
            try:
                await asyncio.wait({job.task})
            except asyncio.CancelledError:  # the runtime is stopping
                job.task.cancel()
                raise
            if job.task.cancelled():
                job.future.cancel()
                continue  # the bug: skips the reset below
            if job.task.exception() is not None:
                job.future.set_exception(job.task.exception())  # type: ignore[arg-type]
            else:
                job.future.set_result(job.task.result())
            worker.context = worker.base.copy()


# -- I6 ----------------------------------------------------------------------------------


class InitializerContextWins(PoolRuntime):
    """I6: given a worker initializer (a lifespan), tasks run in the worker's context: no snapshot.

    Only I6 starts workers with an initializer.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        if self.worker_init is not None:
            return self.pool.submit(fn, *args)  # the bug: the lifespan path skips the snapshot
        return super().submit(fn, *args)
