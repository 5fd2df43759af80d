"""Adapters that put the reference runtimes under the conformance suite.

Each is the stdlib adapter for the same boundary with the one piece that differs
swapped for its reference fix (the thread, the executor, the spawn or offload
call), so the matrix compares like with like.  docs/adapters.md has a complete
stand-alone adapter.
"""

from __future__ import annotations

import asyncio
import contextvars
import multiprocessing
import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance import stdlib_runtimes
from ctxprop_reference import vars as _reference_vars
from ctxprop_reference.aio import AwaitedCall, PendingCall, offload, spawn
from ctxprop_reference.process_pool import ContextProcessPool, forkserver_socket_length
from ctxprop_reference.snapshot import VarRegistry
from ctxprop_reference.threads import (
    ContextThread,
    ContextThreadPoolExecutor,
    RegisteredVarsThreadPoolExecutor,
)
from pytest_ctxprop.adapter import Capabilities, RuntimeUnavailable, Traits, WorkerInit

_NOT_VISIBLE = "tasks see only the caller's snapshot; worker-start values are not visible"


class ThreadAdapter(stdlib_runtimes.ThreadAdapter):
    """``ContextThread`` per task."""

    def new_thread(self, target: Callable[[], None]) -> threading.Thread:
        return ContextThread(target=target, daemon=True)


class ThreadPoolAdapter(stdlib_runtimes.ThreadPoolAdapter):
    """``ContextThreadPoolExecutor.submit``."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient=_NOT_VISIBLE
    )
    executor = ContextThreadPoolExecutor


class RegisteredVarsPoolAdapter(ThreadPoolAdapter):
    """``RegisteredVarsThreadPoolExecutor``: only registered vars travel."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, vars_travel="registered", worker_ambient=_NOT_VISIBLE
    )
    executor = RegisteredVarsThreadPoolExecutor

    def __init__(self) -> None:
        self._registered: list[contextvars.ContextVar[Any]] = []

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        self._registered.append(var)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        super().start(workers=workers, worker_init=worker_init)
        for var in self._registered:
            self.pool.register(var)  # type: ignore[attr-defined]


class TaskAdapter(stdlib_runtimes.CreateTaskAdapter):
    """``ctxprop_reference.aio.spawn``: tasks in a copy of the caller's context."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient="no workers"
    )

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Task[Any]:
        return spawn(fn(*args))


class OffloadAdapter(stdlib_runtimes.RunInExecutorAdapter):
    """``ctxprop_reference.aio.offload``: sync callables on a pool, awaited by the caller."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient=_NOT_VISIBLE
    )

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Future[Any]:
        return offload(fn, *args, executor=self.pool)


class AwaitedCallAdapter(stdlib_runtimes.CreateTaskAdapter):
    """``ctxprop_reference.aio.AwaitedCall``: the awaited-call model."""

    traits: ClassVar[Traits] = Traits(
        model="awaited-call",
        reuses_workers=True,
        token_transport=True,
        deviations={
            "T11": "a task's Context can be given to asyncio only from Python 3.11 on, so on "
            "3.10 a caller's token cannot be made resettable in the task (docs/reference.md)",
            "T16": "follows from T11 on 3.10: a token sent into a task is never spent there, "
            "so the record of live tokens grows with the stream (docs/reference.md)",
        }
        if sys.version_info < (3, 11)
        else {},
        worker_ambient="no workers",
        error_changes="dropped: a task that raises leaves the caller's context as it was",
    )

    def __init__(self) -> None:
        self.calls = AwaitedCall()

    def declare_forward_only(self, var: contextvars.ContextVar[Any]) -> None:
        self.calls.forward_only.add(var)

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> PendingCall:  # type: ignore[override]
        return self.calls.submit(fn, *args)

    async def result(self, handle: PendingCall, timeout: float) -> Any:  # type: ignore[override]
        return await self.calls.result(handle, timeout)

    def token_record_size(self) -> int:
        return len(_reference_vars._live_tokens)  # in-process: nothing is recorded at all

    async def cancel(self, handle: PendingCall, timeout: float) -> None:  # type: ignore[override]
        await super().cancel(handle.task, timeout)


def _mp_context(method: str) -> Any:
    context = multiprocessing.get_context(method)
    if method == "forkserver":  # the server imports these once; each worker forks from it
        context.set_forkserver_preload(
            [
                "ctxprop_reference.process_pool",
                "ctxprop_conformance.probes",
                "ctxprop_conformance.probe_vars",
            ]
        )
    return context


class ProcessPoolSpawnAdapter(stdlib_runtimes.ThreadPoolAdapter):
    """``ctxprop_reference.process_pool.ContextProcessPool``, spawn start method."""

    traits: ClassVar[Traits] = Traits(
        model="copy",
        crosses_process=True,
        reuses_workers=True,
        token_transport=True,
        vars_travel="registered",
        worker_ambient=_NOT_VISIBLE,
    )
    capabilities: ClassVar[Capabilities] = Capabilities(max_workers=2)
    start_method: ClassVar[str] = "spawn"
    pool_class: ClassVar[type[ContextProcessPool]] = ContextProcessPool

    def __init__(self) -> None:
        if self.start_method not in multiprocessing.get_all_start_methods():
            raise RuntimeUnavailable(f"this platform has no {self.start_method} start method")
        self.registry = VarRegistry()

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        # probe vars are named "module:attribute": workers import them by that path
        self.registry.register_importable(var.name)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = self.pool_class(  # type: ignore[assignment]
            workers,
            registry=self.registry,
            dataclasses=(
                ("ctxprop_conformance.probes:Record", "ctxprop:Record"),
                ("ctxprop_conformance.probes:Dependency", "ctxprop:Dependency"),
            ),
            mp_context=_mp_context(self.start_method),
            initializer=worker_init,
        )
        self.pool.warm()  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def token_record_size(self) -> int:
        # single use is carried on each dispatch and result; what stays is only the
        # weak index of tokens still alive in this process
        return len(_reference_vars._live_tokens)


class ProcessPoolForkAdapter(ProcessPoolSpawnAdapter):
    """``ContextProcessPool`` with the fork start method (where the platform has it)."""

    start_method: ClassVar[str] = "fork"


class ProcessPoolForkserverAdapter(ProcessPoolSpawnAdapter):
    """``ContextProcessPool`` with the forkserver start method, the suite's modules preloaded."""

    start_method: ClassVar[str] = "forkserver"

    def __init__(self) -> None:
        super().__init__()
        too_long = forkserver_socket_length()
        if too_long is not None:
            raise RuntimeUnavailable(
                f"the forkserver's unix socket under TMPDIR would be {too_long} bytes long, "
                "over the platform's limit: use a shorter TMPDIR"
            )
