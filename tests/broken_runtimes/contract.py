"""Runtimes that exercise adapter contract v2: each shape of runtime the suite must judge honestly.

Unlike the one-bug runtimes of the other modules, most of these are correct:
what they prove is that the *contract* gives them the right verdicts, quickly
(an ``n/a`` decided before any waiting, no false ``error``).  Their expected
verdicts are in :data:`tests.broken_runtimes.CONTRACT_CASES`.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import itertools
import json
import pickle
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar

from ctxprop_conformance.observations import describe, undescribe
from ctxprop_conformance.pools import started_thread_pool
from ctxprop_conformance.probes import run_probe, task_name
from ctxprop_reference.aio import AwaitedCall, spawn
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    Capabilities,
    RuntimeAdapter,
    Traits,
    WorkerInit,
)

_SNAPSHOT = "tasks see only the caller's snapshot"


class BlockingCallRuntime(RuntimeAdapter):
    """A blocking call (``async_to_sync``, celery eager): the task runs before ``call`` returns.

    Correct: each call runs in a copy of the caller's context on a pooled
    worker.  There is no separate submit, so F2 and I5 are ``n/a`` at once.
    """

    traits: ClassVar[Traits] = Traits(model="copy", reuses_workers=True, worker_ambient=_SNAPSHOT)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = started_thread_pool(workers, worker_init)

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        context = contextvars.copy_context()
        return self.pool.submit(context.run, fn, *args).result(timeout)


class AwaitedCallOnly(AsyncRuntimeAdapter):
    """B2: ``await runner.call(fn)`` brings every change back, forward-only vars included.

    An awaited-call runtime whose only API is one awaited call.  Its bug: the
    forward-only declaration is accepted and then ignored.
    """

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="awaited-call",
        reuses_workers=True,
        worker_ambient="no workers",
        error_changes="dropped: a task that raises leaves the caller's context as it was",
    )
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)

    def __init__(self) -> None:
        self.runner = AwaitedCall()

    def declare_forward_only(self, var: contextvars.ContextVar[Any]) -> None:
        pass  # the bug: accepted, never applied

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        return await self.runner.result(self.runner.submit(fn, *args), timeout)


class _ContextPerCallerTask:
    """The runner of :class:`SharedContextRunner`: one Context per caller task, reused."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self._contexts: dict[int, contextvars.Context] = {}

    def run_in_thread(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        items = dict(contextvars.copy_context())
        context = self._contexts.setdefault(id(asyncio.current_task()), contextvars.Context())
        for var, value in items.items():  # refreshed in place: one Context for every task
            context.run(var.set, value)
        return asyncio.get_running_loop().run_in_executor(self.pool, context.run, fn, *args)


class SharedContextRunner(AsyncRuntimeAdapter):
    """I2: concurrent tasks share one ``Context``; the second to enter it raises RuntimeError.

    The runner keeps one Context per caller *task* and reuses it for every task
    that caller submits, so two of them at once enter the same Context ("cannot
    enter context: ... is already entered").  That exception, raised by the
    runtime, is the I2 bug itself: verdict ``fail``, not ``error``.
    """

    task_kind: ClassVar[str] = "sync"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(model="copy", reuses_workers=True, worker_ambient=_SNAPSHOT)

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.runner = _ContextPerCallerTask(started_thread_pool(workers, worker_init))

    async def stop(self) -> None:
        self.runner.pool.shutdown(wait=False, cancel_futures=True)

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Future[Any]:
        return self.runner.run_in_thread(fn, *args)

    async def result(self, handle: asyncio.Future[Any], timeout: float) -> Any:
        return await asyncio.wait_for(asyncio.shield(handle), timeout)


_BROKERS: dict[int, JsonBroker] = {}
_BROKER_IDS = itertools.count(1)


def _resolve_var(ref: str) -> contextvars.ContextVar[Any]:
    module, _, attribute = ref.partition(":")
    var = getattr(importlib.import_module(module), attribute)
    if not isinstance(var, contextvars.ContextVar):
        raise TypeError(f"{ref} is not a ContextVar")
    return var


class JsonBroker(RuntimeAdapter):
    """A broker that speaks JSON only, with one registered task: ``run_probe``.

    Correct, and the proof that the probes are broker-friendly: every message
    (task name, arguments, the context by ``module:attribute`` var reference,
    the result) goes through ``json.dumps``/``json.loads``, workers restore the
    context into a fresh Context, and F6 reaches the broker again from inside a
    task through a named nested runner.
    """

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True, worker_ambient=_SNAPSHOT
    )

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.id = next(_BROKER_IDS)
        _BROKERS[self.id] = self
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(
                target=contextvars.Context().run, args=(self._work, worker_init), daemon=True
            )
            for _ in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        for _ in self._workers:
            self._queue.put(None)
        _BROKERS.pop(self.id, None)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        context = _json_context(contextvars.copy_context())
        message = json.dumps({"task": task_name(fn), "args": args, "context": context})
        future: Future[Any] = Future()
        self._queue.put((message, future))
        return future

    def result(self, handle: Future[Any], timeout: float) -> Any:
        return json.loads(handle.result(timeout))

    def nested_runner(self) -> dict[str, Any]:
        return {"factory": f"{__name__}:broker_client", "args": [self.id]}

    def _work(self, worker_init: WorkerInit | None) -> None:
        if worker_init is not None:
            worker_init()
        while (job := self._queue.get()) is not None:
            message, future = job
            try:
                future.set_result(self._run(json.loads(message)))
            except BaseException as exc:  # handed back to the caller
                future.set_exception(exc)

    @staticmethod
    def _run(message: dict[str, Any]) -> str:
        def restore_and_run() -> Any:
            for ref, value in message["context"].items():
                _resolve_var(ref).set(undescribe(value))
            return run_probe(message["task"], *message["args"])

        return json.dumps(contextvars.Context().run(restore_and_run))


def _json_context(context: contextvars.Context) -> dict[str, Any]:
    """The context as JSON, by var reference; a value JSON cannot carry is refused by name."""
    out = {}
    for var, value in context.items():
        described = describe(value)
        if isinstance(described, dict) and "object" in described:
            raise TypeError(f"cannot send {var.name}: a {type(value).__name__} is not JSON")
        out[var.name] = described
    return out


def _pickle_context(context: contextvars.Context) -> bytes:
    """``[(module:attribute, value)]`` pickled; a value pickle refuses is refused by name."""
    items = []
    for var, value in context.items():
        try:
            items.append((var.name, pickle.dumps(value)))
        except (TypeError, pickle.PicklingError) as exc:
            raise TypeError(f"cannot send {var.name}: {exc}") from None
    return pickle.dumps(items)


class _BrokerClient:
    def __init__(self, broker: JsonBroker) -> None:
        self._broker = broker

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._broker.result(self._broker.submit(fn, *args), 10.0)


def broker_client(broker_id: int) -> _BrokerClient:
    """The nested runner factory a task's RunnerRef names."""
    return _BrokerClient(_BROKERS[broker_id])


class PickledValuesByReference(RuntimeAdapter):
    """Ships the context as ``[(module:attribute, pickled value)]`` and resolves vars there.

    Correct: the usual way to move ContextVars through pickle, which cannot
    pickle a ContextVar itself.  Works only because every probe var is a
    module attribute named by its own ``name``.
    """

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True, worker_ambient=_SNAPSHOT
    )

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = started_thread_pool(workers, worker_init)

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.pool.submit(self._run, _pickle_context(contextvars.copy_context()), fn, args)

    def result(self, handle: Future[Any], timeout: float) -> Any:
        return handle.result(timeout)

    @staticmethod
    def _run(wire: bytes, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        def restore_and_run() -> Any:
            for ref, value in pickle.loads(wire):  # our own bytes, from this process
                _resolve_var(ref).set(pickle.loads(value))
            return fn(*args)

        return contextvars.Context().run(restore_and_run)


class OneWorkerPool(RuntimeAdapter):
    """A pool with exactly one worker: F6's nested submit-and-wait would deadlock on it.

    Correct; it declares ``Capabilities(max_workers=1)``, so F6 is ``n/a`` at once.
    """

    traits: ClassVar[Traits] = Traits(model="copy", reuses_workers=True, worker_ambient=_SNAPSHOT)
    capabilities: ClassVar[Capabilities] = Capabilities(max_workers=1)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        assert workers == 1, f"the suite asked a one-worker runtime for {workers} workers"
        self.pool = ThreadPoolExecutor(1, initializer=worker_init)
        self.pool.submit(lambda: None).result(10)

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.pool.submit(contextvars.copy_context().run, fn, *args)

    def result(self, handle: Future[Any], timeout: float) -> Any:
        return handle.result(timeout)


class LazyNoCancel(AsyncRuntimeAdapter):
    """Starts each task only when its result is awaited, and cannot cancel.

    Correct.  I5 must be ``n/a`` before anything waits for the task to start
    (it never would: nothing awaits it).
    """

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, worker_ambient="no workers"
    )
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return contextvars.copy_context(), fn, args

    async def result(self, handle: Any, timeout: float) -> Any:
        context, fn, args = handle
        task = context.run(spawn, fn(*args))  # started now, in a copy of the submit context
        return await asyncio.wait_for(task, timeout)


class ForwardsNothing(OneWorkerPool):
    """Runs every task in a fresh, empty Context, and says so: ``vars_travel="none"``.

    Honest, so never green: every property that needs vars to travel is a
    declared deviation (``D``), not ``n/a``.
    """

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, vars_travel="none", worker_ambient="empty context"
    )
    capabilities: ClassVar[Capabilities] = Capabilities()

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = started_thread_pool(workers, worker_init)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.pool.submit(contextvars.Context().run, fn, *args)
