"""taskiq: the InMemoryBroker, and a taskiq-redis broker with a worker in its own OS process.

taskiq documents no context propagation.  A worker (``taskiq.api.run_receiver_task``,
what ``taskiq worker`` runs) handles each message in its own asyncio task, a
copy of the listening task's context; only the message (task name, JSON args,
labels) travels.  The InMemoryBroker is documented as executing tasks "without
sending them elsewhere": ``kiq()`` creates the task on the caller's own loop.
``+ctxprop`` adds :func:`ctxprop_reference.integrations.taskiq.ContextMiddleware`
on both sides and nothing else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance import probes
from ctxprop_conformance.ecosystem import fork_server, require
from ctxprop_conformance.ecosystem.piped_worker import WorkerProcess
from ctxprop_conformance.ecosystem.redis_keys import delete_matching
from ctxprop_conformance.probes import run_probe_async, task_name
from pytest_ctxprop.adapter import AsyncRuntimeAdapter, Capabilities, Traits, WorkerInit

TASK = "ctxprop_run_probe_async"
POLL_S = 0.01  # wait_result's check_interval (its own option; the default is 0.2 s)
_state: dict[str, Any] = {}  # this worker process's broker (F6)


async def ctxprop_run_probe_async(target: str, *args: Any) -> Any:
    """The one task, ``run_probe_async`` in a function of taskiq's own.

    taskiq renames the function it registers (``__name__`` and ``__qualname__``
    get ``__taskiq_original``, ``taskiq/decor.py``): registering the suite's shared
    ``run_probe_async`` itself broke the docket rows that ran after it in the same
    session (docket names a task by its function's ``__name__``).
    """
    return await run_probe_async(target, *args)


def _serializer(specs: Any, key: bytes) -> Any:
    from ctxprop_reference.snapshot import JsonCodec, SnapshotSerializer, VarRegistry

    codec = JsonCodec()
    codec.register_dataclass(probes.Record, "ctxprop:Record")
    codec.register_dataclass(probes.Dependency, "ctxprop:Dependency")
    return SnapshotSerializer(VarRegistry.from_specs(specs), codec=codec, signing_key=key)


def build(url: str | None, queue: str, ctxprop: tuple[Any, bytes] | None) -> Any:
    """The broker (taskiq-redis ``ListQueueBroker`` at ``url``, or ``InMemoryBroker``), one task."""
    if url is None:
        from taskiq import InMemoryBroker

        broker: Any = InMemoryBroker()
    else:
        from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

        backend = RedisAsyncResultBackend(redis_url=url, prefix_str=queue, result_ex_time=600)
        broker = ListQueueBroker(url, queue_name=queue).with_result_backend(backend)
    if ctxprop is not None:
        from ctxprop_reference.integrations.taskiq import ContextMiddleware

        broker.add_middlewares(ContextMiddleware(_serializer(*ctxprop)))
    broker.register_task(ctxprop_run_probe_async, task_name=TASK)
    return broker


async def _kiq(broker: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return await broker.find_task(TASK).kiq(task_name(fn), *args)


async def _result(handle: Any, timeout: float) -> Any:
    from taskiq.exceptions import TaskiqResultTimeoutError

    try:
        result = await handle.wait_result(check_interval=POLL_S, timeout=timeout)
    except TaskiqResultTimeoutError:
        raise TimeoutError(f"taskiq task {handle.task_id} still running after {timeout}s") from None
    return result.raise_for_error().return_value


async def _work(broker: Any, concurrency: int, started: concurrent.futures.Future[None]) -> None:
    from taskiq.api import run_receiver_task

    try:
        await broker.startup()  # runs WORKER_STARTUP handlers: is_worker_process is set
    except BaseException as exc:
        started.set_exception(exc)
        raise
    receiver = asyncio.ensure_future(run_receiver_task(broker, max_async_tasks=concurrency))
    started.set_result(None)
    try:
        await receiver
    finally:
        receiver.cancel()


def serve(
    url: str, queue: str, concurrency: int, worker_init: WorkerInit | None,
    ctxprop: tuple[Any, bytes] | None,
) -> Callable[[], None]:  # fmt: skip
    """In the worker process: what ``taskiq worker`` does, for one broker, on its own loop."""
    from taskiq import TaskiqEvents

    broker = build(url, queue, ctxprop)
    broker.is_worker_process = True
    if worker_init is not None:  # taskiq's documented worker-start hook
        broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, lambda state: worker_init())
    _state["broker"] = broker
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="taskiq-worker-loop", daemon=True)
    thread.start()
    started: concurrent.futures.Future[None] = concurrent.futures.Future()
    main = asyncio.run_coroutine_threadsafe(_work(broker, concurrency, started), loop)
    started.result(20)

    def stop() -> None:
        main.cancel()
        try:
            asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()

    return stop


class _Nested:
    """F6 inside a worker: ``kiq`` through this process's broker and await the result."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await _result(await _kiq(_state["broker"], fn, args), self._timeout)


def nested_runner(timeout: float = 10.0) -> _Nested:
    """The factory a task's RunnerRef names (F6)."""
    if "broker" not in _state:
        raise RuntimeError("nested_runner() is for tasks running on a taskiq worker process")
    return _Nested(timeout)


class TaskiqInMemory(AsyncRuntimeAdapter):
    """``InMemoryBroker``: ``await task.kiq(...)`` runs the task on the caller's own loop."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy", worker_ambient="no workers: each message is an asyncio task made by kiq()"
    )
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)

    def __init__(self) -> None:
        require("taskiq", "brokers")

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.broker = build(None, "", None)
        await self.broker.startup()

    async def stop(self) -> None:
        await self.broker.shutdown()

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return await _kiq(self.broker, fn, args)

    async def result(self, handle: Any, timeout: float) -> Any:
        return await _result(handle, timeout)


class TaskiqRedis(AsyncRuntimeAdapter):
    """taskiq-redis ``ListQueueBroker`` + ``RedisAsyncResultBackend``, a worker process."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True,
        worker_ambient="each message runs in a copy of the worker's listening task's context",
    )  # fmt: skip
    ctxprop: ClassVar[bool] = False

    def __init__(self) -> None:
        require("taskiq", "brokers")
        require("taskiq_redis", "brokers")
        fork_server.warm()  # its imports done before any check's bound
        self.specs: list[Any] = []
        self.key = secrets.token_bytes(32)

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        from ctxprop_reference.redis_queue_adapter import backend_url

        self.url = backend_url()
        self.queue = f"ctxprop-taskiq-{uuid.uuid4().hex[:12]}"
        wire = (tuple(self.specs), self.key) if self.ctxprop else None
        self.broker = build(self.url, self.queue, wire)
        await self.broker.startup()
        self.process = WorkerProcess(
            serve, (self.url, self.queue, workers, worker_init, wire), "taskiq"
        )
        try:
            await asyncio.to_thread(self.process.start)
        except BaseException:
            await self.broker.shutdown()
            raise

    async def stop(self) -> None:
        try:
            await asyncio.to_thread(self.process.stop)
        finally:
            await self.broker.shutdown()
            await asyncio.to_thread(delete_matching, self.url, f"*{self.queue}*")

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return await _kiq(self.broker, fn, args)

    async def result(self, handle: Any, timeout: float) -> Any:
        return await _result(handle, timeout)

    def nested_runner(self) -> dict[str, Any]:
        return {
            "factory": "ctxprop_conformance.ecosystem.taskiq_runtimes:nested_runner",
            "args": [],
        }


class TaskiqRedisCtxprop(TaskiqRedis):
    """The same broker and worker, ``ContextMiddleware`` on both sides."""

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True, vars_travel="registered",
        worker_ambient="each message runs in a fresh Context holding only its snapshot",
    )  # fmt: skip
    ctxprop: ClassVar[bool] = True

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        from ctxprop_reference.snapshot import VarRegistry

        registry = VarRegistry()  # checks the var is importable by its name here (S6)
        registry.register_importable(var.name)
        self.specs.extend(registry.specs())
