"""Broken runtimes for SPEC section F (forward propagation), one bug each.

Each class docstring's first line names the real-world bug it models.  Each must
fail its own property and no other, so the bug is confined to the situation its
property sets up (see the notes under each docstring).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ctxprop_reference.adapters import (
    OffloadAdapter,
    RegisteredVarsPoolAdapter,
    TaskAdapter,
)
from ctxprop_reference.aio import spawn
from ctxprop_reference.threads import RegisteredVarsThreadPoolExecutor
from pytest_ctxprop.adapter import RuntimeAdapter, Traits, Unsupported, WorkerInit
from tests.broken_runtimes._base import Items, PoolRuntime, context_with, jsonable

# -- F1 ----------------------------------------------------------------------------------


class JsonWireDropsContext(RuntimeAdapter):
    """F1: the compact JSON message format has no context field, so JSON calls lose the context.

    A thread per task.  Calls whose arguments are all JSON containers (lists and
    objects) and whose context is all JSON go out in the compact format and
    arrive with an empty context; anything else (a plain string or number
    argument such as a gate address, a bytes value, a per-invocation object, no
    arguments at all) takes the general format, which carries the context.  Nested submits from a
    task are handed over in-process.  F1 is the only compact call whose task
    expects a value from the caller (F3, I1, I4 make compact calls that expect
    none): this is the price of F1 being contained in F2 and F5.
    """

    traits: ClassVar[Traits] = Traits(model="copy", worker_ambient="no workers")

    def __init__(self) -> None:
        self._in_task = threading.local()

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        if worker_init is not None:
            raise Unsupported("a thread per task has no worker start")

    def stop(self) -> None:
        pass

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        context = contextvars.copy_context()
        snapshot = {var.name: value for var, value in context.items()}
        nested = getattr(self._in_task, "active", False)
        compact = all(isinstance(a, list | dict) for a in args)
        if args and compact and not nested and jsonable(args) and jsonable(snapshot):
            message = json.dumps({"fn": fn.__qualname__, "args": args})  # no "context" key
            args = tuple(json.loads(message)["args"])
            context = contextvars.Context()
        future: Future[Any] = Future()

        def run() -> None:
            self._in_task.active = True
            try:
                future.set_result(context.run(fn, *args))
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)

        threading.Thread(target=run, daemon=True).start()
        return future

    def result(self, handle: Future[Any], timeout: float) -> Any:
        return handle.result(timeout)


# -- F2 ----------------------------------------------------------------------------------


@dataclass
class _Deferred:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    snapshot: contextvars.Context
    task: asyncio.Task[Any] | None = field(default=None)


class LateCaptureOnWait(TaskAdapter):
    """F2: a task waited on before it was sent captures the context at the wait, not at submit.

    Tasks with several arguments are batched and sent on the next loop
    iteration with the snapshot taken at submit.  If the caller waits on one
    first, ``result`` sends it right away, and that path builds the task from
    the caller's context *now*.  Only F2 changes the caller's context between
    submitting such a task and waiting on it (I2's tasks take one argument).
    """

    def __init__(self) -> None:
        self._batch: list[_Deferred] = []

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        if len(args) < 2:
            return spawn(fn(*args))
        job = _Deferred(fn, args, contextvars.copy_context())
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._send_batch)
        self._batch.append(job)
        return job

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        for job in batch:
            self._send(job, job.snapshot)

    @staticmethod
    def _send(job: _Deferred, context: contextvars.Context) -> None:
        job.task = context.run(asyncio.get_running_loop().create_task, job.fn(*job.args))

    async def result(self, handle: Any, timeout: float) -> Any:
        if isinstance(handle, _Deferred):
            if handle.task is None:  # waited on before its batch went out: send it now
                self._batch.remove(handle)
                self._send(handle, contextvars.copy_context())  # the bug: not handle.snapshot
            handle = handle.task
        return await super().result(handle, timeout)

    async def cancel(self, handle: Any, timeout: float) -> None:
        if isinstance(handle, _Deferred):
            if handle.task is None:
                self._batch.remove(handle)
                return
            handle = handle.task
        await super().cancel(handle, timeout)


# -- F3 ----------------------------------------------------------------------------------


def _run_with(items: Items, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return context_with(items).run(fn, *args)


class _DefaultsAsNoneExecutor(RegisteredVarsThreadPoolExecutor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        current = contextvars.copy_context()
        snapshot = []
        for var in self._registered:
            if var in current:
                snapshot.append((var, current[var]))
                continue
            try:
                var.get()  # a var with a default: ship its value so every worker agrees
            except LookupError:
                continue
            snapshot.append((var, current.get(var)))  # the bug: Context.get ignores the default
        return ThreadPoolExecutor.submit(self, _run_with, snapshot, fn, args)


class DefaultsShippedAsNone(RegisteredVarsPoolAdapter):
    """F3: ships default-only vars via ``Context.get(var)``, which ignores the default: None.

    Only vars that have a default and no value in the caller are touched; D is
    the only such var a task reads, and only F3 reads it.
    """

    executor = _DefaultsAsNoneExecutor


# -- F4 ----------------------------------------------------------------------------------


def _through_the_wire(value: Any) -> Any:
    if jsonable(value):
        return json.loads(json.dumps(value))
    return pickle.loads(pickle.dumps(value))


class JsonSnapshotValues(PoolRuntime):
    """F4: serialises context values as JSON where JSON accepts them, so tuples arrive as lists.

    Values JSON refuses (bytes, dataclasses, per-invocation objects) fall back
    to pickle and arrive intact; strings and ints survive JSON.  Only F4 carries
    tuples.
    """

    def capture(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return [(var, _through_the_wire(v)) for var, v in contextvars.copy_context().items()]

    def run_task(self, captured: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return context_with(captured).run(fn, *args)


# -- F5 ----------------------------------------------------------------------------------


class ZeroArgFastPath(PoolRuntime):
    """F5: a fast path for argument-less tasks skips the snapshot; only injected values arrive.

    The context is attached to the task's argument payload, so a parameterless
    task (a helper reading the request "from context") gets none.  Only F5
    submits a task without arguments.
    """

    def capture(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if not args:
            return contextvars.Context()
        return super().capture(fn, args)


# -- F6 ----------------------------------------------------------------------------------


class NestedReusesParentSnapshot(PoolRuntime):
    """F6: a nested submit forwards the parent's submitted snapshot, not its live context.

    Only F6 submits from inside a task.
    """

    def __init__(self) -> None:
        self._task = threading.local()

    def capture(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        parent = getattr(self._task, "snapshot", None)
        if parent is not None:
            return parent
        return list(contextvars.copy_context().items())

    def run_task(self, captured: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        self._task.snapshot = captured
        try:
            return context_with(captured).run(fn, *args)
        finally:
            self._task.snapshot = None


# -- F7 ----------------------------------------------------------------------------------


class CreatorContextWins(PoolRuntime):
    """F7: workers inherit the pool creator's context and the caller's values never override it.

    Like pooled threads under ``thread_inherit_context``, with the caller's
    snapshot applied with setdefault semantics.  Only F7 starts a pool while
    the creator has a value the caller also sets.
    """

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.creator = contextvars.copy_context()
        super().start(workers=workers, worker_init=worker_init)

    def run_task(self, captured: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        context = self.creator.copy()
        for var, value in captured.items():
            if var not in context:
                context.run(var.set, value)
        return context.run(fn, *args)


# -- F8 ----------------------------------------------------------------------------------


class ThreadLocalSnapshot(OffloadAdapter):
    """F8: keeps the caller's snapshot in a ``threading.local`` across an await: callers share it.

    A lone caller gets its own snapshot back; concurrent callers on one loop
    overwrite each other's.  Only F8 has several callers offload at once.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Future[Any]:
        self._local.context = contextvars.copy_context()
        await asyncio.sleep(0)  # e.g. a rate limiter: other coroutines run here
        context = self._local.context
        return asyncio.get_running_loop().run_in_executor(self.pool, context.run, fn, *args)


# -- F9 ----------------------------------------------------------------------------------


class _WholeContextExecutor(RegisteredVarsThreadPoolExecutor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        snapshot = list(contextvars.copy_context().items())  # the bug: not only registered vars
        return ThreadPoolExecutor.submit(self, _run_with, snapshot, fn, args)


class ShipsUnregisteredVars(RegisteredVarsPoolAdapter):
    """F9: a registered-vars runtime ships the whole context, unregistered vars too (Sentry leak).

    Only F9 sets a var that is not registered.
    """

    executor = _WholeContextExecutor
