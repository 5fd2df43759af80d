"""arq: ``ArqRedis.enqueue_job`` to an ``arq.worker.Worker`` in its own OS process.

arq documents no context propagation: a job is the function name, its
(pickled) arguments and a ``ctx`` dict; the worker runs each job in an asyncio
task of its own, a copy of the worker's main task's context (where
``on_startup`` ran).  ``+ctxprop`` enqueues through
:func:`ctxprop_reference.integrations.arq.enqueue_job` and registers the job
wrapped in :func:`~ctxprop_reference.integrations.arq.with_context`, nothing else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance import probes
from ctxprop_conformance.ecosystem import fork_server, require
from ctxprop_conformance.ecosystem.piped_worker import WorkerProcess
from ctxprop_conformance.ecosystem.redis_keys import delete_matching
from ctxprop_conformance.probes import run_probe_async, task_name
from pytest_ctxprop.adapter import AsyncRuntimeAdapter, RuntimeUnavailable, Traits, WorkerInit

JOB = "ctxprop_run_probe"
POLL_S = 0.01  # arq's own poll_delay options (worker and Job.result; defaults 0.5 s)
_state: dict[str, Any] = {}  # this worker process's pool and serializer (F6)


async def ctxprop_run_probe(ctx: dict[str, Any], target: str, *args: Any) -> Any:
    """The one job: arq passes ``ctx`` first; the probe is ``run_probe_async``."""
    return await run_probe_async(target, *args)


def _serializer(specs: Any, key: bytes) -> Any:
    from ctxprop_reference.snapshot import JsonCodec, SnapshotSerializer, VarRegistry

    codec = JsonCodec()
    codec.register_dataclass(probes.Record, "ctxprop:Record")
    codec.register_dataclass(probes.Dependency, "ctxprop:Dependency")
    return SnapshotSerializer(VarRegistry.from_specs(specs), codec=codec, signing_key=key)


async def _enqueue(
    pool: Any, serializer: Any, queue: str, fn: Callable[..., Any], args: Any
) -> Any:
    job_id = f"{queue}-{uuid.uuid4().hex}"  # under the run's prefix, so stop() deletes it
    if serializer is None:
        return await pool.enqueue_job(JOB, task_name(fn), *args, _job_id=job_id, _queue_name=queue)
    from ctxprop_reference.integrations.arq import enqueue_job

    return await enqueue_job(
        pool, serializer, JOB, task_name(fn), *args, _job_id=job_id, _queue_name=queue
    )


async def _result(job: Any, timeout: float) -> Any:
    from arq.jobs import ResultNotFound

    try:
        return await job.result(timeout=timeout, poll_delay=POLL_S)
    except asyncio.TimeoutError:
        raise TimeoutError(f"arq job {job.job_id} still running after {timeout}s") from None
    except ResultNotFound:
        # arq 0.25's Job.result reads the result and the queue entry as two separate
        # commands (its pipeline is opened but not used): a job finishing in between
        # looks "not in queue".  Read the result once more, as Job.result would.
        info = await job.result_info()
        if info is None:
            raise
        if info.success:
            return info.result
        raise info.result from None


def serve(
    url: str, queue: str, jobs: int, worker_init: WorkerInit | None,
    ctxprop: tuple[Any, bytes] | None,
) -> Callable[[], None]:  # fmt: skip
    """In the worker process: what ``arq WorkerSettings`` runs, on a loop of its own."""
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    serializer = None if ctxprop is None else _serializer(*ctxprop)
    job: Any = ctxprop_run_probe
    if serializer is not None:
        from ctxprop_reference.integrations.arq import with_context

        job = with_context(serializer, ctxprop_run_probe)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="arq-worker-loop", daemon=True)
    thread.start()
    started: concurrent.futures.Future[None] = concurrent.futures.Future()

    async def on_startup(ctx: dict[str, Any]) -> None:
        if worker_init is not None:  # arq's documented worker-start hook
            worker_init()
        _state.update(pool=ctx["redis"], serializer=serializer, queue=queue)
        started.set_result(None)

    async def make() -> Any:  # arq's Worker takes the running loop when it is made
        return Worker(
            functions=[func(job, name=JOB)], queue_name=queue, on_startup=on_startup,
            redis_settings=RedisSettings.from_dsn(url), max_jobs=jobs, poll_delay=POLL_S,
            handle_signals=False, keep_result=600, max_tries=1,
        )  # fmt: skip

    worker = asyncio.run_coroutine_threadsafe(make(), loop).result(10)
    main = asyncio.run_coroutine_threadsafe(worker.async_run(), loop)
    concurrent.futures.wait([started, main], 20, concurrent.futures.FIRST_COMPLETED)
    if not started.done():
        main.cancel()
        raise RuntimeError(
            f"the arq worker did not start: {main.exception(1) if main.done() else 'hung'}"
        )

    async def close() -> None:
        try:
            await worker.close()  # cancels the worker's tasks, closes its pool
        except asyncio.CancelledError:  # its gather of the cancelled job tasks re-raises
            if worker._pool is not None:
                await worker._pool.aclose()

    def stop() -> None:
        try:
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        finally:
            main.cancel()
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()

    return stop


class PrivateRedis:
    """``$CTXPROP_REDIS_URL``, or a ``redis-server`` of this adapter's own on a free port.

    arq's worker logs ``INFO`` at start, a command the embedded fakeredis lacks.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        url = os.environ.get("CTXPROP_REDIS_URL")
        if url:
            self.url = url
            return
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError(
                "arq needs a real Redis: set CTXPROP_REDIS_URL or install redis-server"
            )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + timeout
        while True:  # the server's readiness signal is its port accepting connections
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.005)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


class _Nested:
    """F6 inside a worker: enqueue through this process's pool and await the result."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        job = await _enqueue(_state["pool"], _state["serializer"], _state["queue"], fn, args)
        return await _result(job, self._timeout)


def nested_runner(timeout: float = 10.0) -> _Nested:
    """The factory a task's RunnerRef names (F6)."""
    if "pool" not in _state:
        raise RuntimeError("nested_runner() is for jobs running on an arq worker process")
    return _Nested(timeout)


class ArqWorker(AsyncRuntimeAdapter):
    """``await pool.enqueue_job(...)``, ``await job.result(timeout)``; one worker process."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True,
        worker_ambient="each job runs in a copy of the worker's main task's context",
    )  # fmt: skip
    ctxprop: ClassVar[bool] = False

    def __init__(self) -> None:
        require("arq", "brokers")
        if not os.environ.get("CTXPROP_REDIS_URL") and shutil.which("redis-server") is None:
            raise RuntimeUnavailable(
                "arq needs a real Redis (its worker sends INFO, which fakeredis lacks): "
                "set CTXPROP_REDIS_URL or install redis-server"
            )
        fork_server.warm()  # its imports done before any check's bound
        self.specs: list[Any] = []
        self.key = secrets.token_bytes(32)

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        from arq.connections import RedisSettings, create_pool

        self.redis = PrivateRedis()  # arq needs INFO, which fakeredis does not have
        self.url = self.redis.url
        self.queue = f"ctxprop-arq-{uuid.uuid4().hex[:12]}"
        wire = (tuple(self.specs), self.key) if self.ctxprop else None
        self.serializer = None if wire is None else _serializer(*wire)
        self.pool = await create_pool(
            RedisSettings.from_dsn(self.url), default_queue_name=self.queue
        )
        self.process = WorkerProcess(
            serve, (self.url, self.queue, workers, worker_init, wire), "arq"
        )
        try:
            await asyncio.to_thread(self.process.start)
        except BaseException:
            await self.pool.aclose()
            self.redis.stop()
            raise

    async def stop(self) -> None:
        try:
            await asyncio.to_thread(self.process.stop)
        finally:
            try:
                await self.pool.aclose()
                await asyncio.to_thread(delete_matching, self.url, f"*{self.queue}*")
            finally:
                self.redis.stop()

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return await _enqueue(self.pool, self.serializer, self.queue, fn, args)

    async def result(self, handle: Any, timeout: float) -> Any:
        return await _result(handle, timeout)

    def nested_runner(self) -> dict[str, Any]:
        return {"factory": "ctxprop_conformance.ecosystem.arq_runtimes:nested_runner", "args": []}


class ArqWorkerCtxprop(ArqWorker):
    """The same worker, jobs enqueued with ``enqueue_job`` and run through ``with_context``."""

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True, vars_travel="registered",
        worker_ambient="each job runs in a fresh Context holding only its snapshot",
    )  # fmt: skip
    ctxprop: ClassVar[bool] = True

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        from ctxprop_reference.snapshot import VarRegistry

        registry = VarRegistry()  # checks the var is importable by its name here (S6)
        registry.register_importable(var.name)
        self.specs.extend(registry.specs())
