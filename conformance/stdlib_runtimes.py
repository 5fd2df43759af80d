"""Adapters for the stdlib's own boundaries, measured exactly as they are.

These adapters add no context handling of their own: whatever a verdict says is
what the running interpreter does.  Pools are started (all workers created) in
the context the suite starts them in, so what a worker inherits at creation is
measured by F7 and not mistaken for propagation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from ctxprop_conformance.pools import started_thread_pool
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    Capabilities,
    RuntimeAdapter,
    RuntimeUnavailable,
    Traits,
    WorkerInit,
)

_NO_WORKER_START = Capabilities(worker_init=False)


class ThreadJob:
    """One thread's outcome, waited for with a bound."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self._fn, self._args = fn, args

    def run(self) -> None:
        try:
            self.value = self._fn(*self._args)
        except BaseException as exc:  # re-raised in the caller by result()
            self.error = exc

    def result(self, timeout: float) -> Any:
        assert self.thread is not None
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"thread task still running after {timeout}s")
        if self.error is not None:
            raise self.error
        return self.value


class ThreadAdapter(RuntimeAdapter):
    """``threading.Thread(target=fn).start()``: a new thread per task."""

    traits: ClassVar[Traits] = Traits(model="copy", worker_ambient="no workers")
    capabilities: ClassVar[Capabilities] = _NO_WORKER_START

    def new_thread(self, target: Callable[[], None]) -> threading.Thread:
        """The thread a task runs on: the one line that differs between thread runtimes."""
        return threading.Thread(target=target, daemon=True)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        pass

    def stop(self) -> None:
        pass

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> ThreadJob:
        job = ThreadJob(fn, args)
        job.thread = self.new_thread(job.run)
        job.thread.start()
        return job

    def result(self, handle: ThreadJob, timeout: float) -> Any:
        return handle.result(timeout)


class ThreadCopyContextAdapter(ThreadAdapter):
    """``threading.Thread(target=copy_context().run, ...)``: the documented idiom."""

    def new_thread(self, target: Callable[[], None]) -> threading.Thread:
        return threading.Thread(target=contextvars.copy_context().run, args=(target,), daemon=True)


class ThreadPoolAdapter(RuntimeAdapter):
    """``ThreadPoolExecutor.submit``."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient="tasks run in the worker's context"
    )

    #: the executor class: the one thing that differs between thread-pool runtimes
    executor: ClassVar[type[concurrent.futures.ThreadPoolExecutor]] = (
        concurrent.futures.ThreadPoolExecutor
    )

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = started_thread_pool(workers, worker_init, self.executor)

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> concurrent.futures.Future[Any]:
        return self.pool.submit(fn, *args)

    def result(self, handle: concurrent.futures.Future[Any], timeout: float) -> Any:
        return handle.result(timeout)


def _worker_init_sentinel() -> None:
    """Run in a new worker process: proves the pool is started."""


class ProcessPoolAdapter(ThreadPoolAdapter):
    """``ProcessPoolExecutor.submit`` with the interpreter's default start method."""

    traits: ClassVar[Traits] = Traits(
        model="copy",
        crosses_process=True,
        reuses_workers=True,
        worker_ambient="tasks run in the worker process's context",
    )
    capabilities: ClassVar[Capabilities] = Capabilities(max_workers=2)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = concurrent.futures.ProcessPoolExecutor(  # type: ignore[assignment]
            min(workers, 2), initializer=worker_init
        )
        # all workers exist before measuring: submit one no-op per worker at once
        futures = [self.pool.submit(_worker_init_sentinel) for _ in range(min(workers, 2))]
        for f in futures:
            f.result(60)

    def stop(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


# -- asyncio ------------------------------------------------------------------------------


class _LoopPoolAdapter(AsyncRuntimeAdapter):
    """Shared start/stop/result of the asyncio offload adapters."""

    task_kind: ClassVar[str] = "sync"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient="depends on the offload"
    )

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = started_thread_pool(workers, worker_init)

    async def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def result(self, handle: asyncio.Future[Any], timeout: float) -> Any:
        return await asyncio.wait_for(asyncio.shield(handle), timeout)


class RunInExecutorAdapter(_LoopPoolAdapter):
    """``loop.run_in_executor(pool, fn, *args)``."""

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)


class ToThreadAdapter(_LoopPoolAdapter):
    """``asyncio.to_thread(fn, *args)`` on the loop's default executor."""

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        await super().start(workers=workers, worker_init=worker_init)
        asyncio.get_running_loop().set_default_executor(self.pool)

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Future[Any]:
        return asyncio.ensure_future(asyncio.to_thread(fn, *args))


class CreateTaskAdapter(AsyncRuntimeAdapter):
    """``asyncio.create_task(coro)`` on the caller's loop."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy",
        reuses_workers=True,
        worker_ambient="no worker start: the loop is the caller's",
    )
    capabilities: ClassVar[Capabilities] = _NO_WORKER_START

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Task[Any]:
        return asyncio.create_task(fn(*args))

    async def result(self, handle: asyncio.Task[Any], timeout: float) -> Any:
        return await asyncio.wait_for(asyncio.shield(handle), timeout)

    async def cancel(self, handle: asyncio.Task[Any], timeout: float) -> None:
        handle.cancel()
        await asyncio.wait({handle}, timeout=timeout)
        if not handle.done():
            raise TimeoutError(f"task ignored cancellation for {timeout}s")


async def _settled(coro: Any) -> Any:
    """Keep one task's exception from aborting the whole TaskGroup."""
    try:
        return (True, await coro)
    except Exception as exc:
        return (False, exc)


class TaskGroupAdapter(CreateTaskAdapter):
    """``asyncio.TaskGroup().create_task(coro)``, the group held open for the runtime's life."""

    def __init__(self) -> None:
        if sys.version_info < (3, 11):
            raise RuntimeUnavailable("asyncio.TaskGroup needs Python 3.11 or newer")

    @asynccontextmanager
    async def lifespan(
        self, *, workers: int, worker_init: WorkerInit | None = None
    ) -> AsyncIterator[None]:
        self._tasks: list[asyncio.Task[Any]] = []
        async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
            self.group = group
            try:
                yield
            finally:
                for task in self._tasks:
                    task.cancel()

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Task[Any]:
        task = self.group.create_task(_settled(fn(*args)))
        self._tasks.append(task)
        return task  # type: ignore[no-any-return]

    async def result(self, handle: asyncio.Task[Any], timeout: float) -> Any:
        ok, value = await asyncio.wait_for(asyncio.shield(handle), timeout)
        if not ok:
            raise value
        return value
