"""pydocket: ``await docket.add(task)(*args)`` then ``await execution.get_result(timeout=...)``.

docket documents no context propagation: a worker runs each task as
``asyncio.create_task`` in its own loop, so a task sees a copy of the worker's
context (docket sets its own ``current_docket``/``current_worker`` there).
Only the suite's generic ``run_probe_async`` is registered.

* ``docket.memory``: docket's ``memory://`` backend.  It is loop-affine (one
  in-process server per URL and event loop, ``docket/_redis_memory.py``), so
  its worker is ``Worker.run_forever()`` as a task of the caller's loop,
  started in ``start`` from the context the suite gives it: docket's
  documented embedding model, never the caller's own task.
* ``docket.redis``: a worker in its own OS process (``Worker.run``, docket's
  CLI entry), forked from the rows' fork server (``fork_server``) with docket
  preloaded.
* ``docket.redis+ctxprop``: the same, with
  ``ctxprop_reference.integrations.docket.DocketContext`` on both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

from ctxprop_conformance.ecosystem import fork_server, require
from ctxprop_conformance.ecosystem.docket_worker import TASK, probe_codec, serve
from ctxprop_conformance.probes import run_probe_async, task_name
from ctxprop_reference.redis_queue import _resolve, _spoiled, embedded_redis_url, qualified_name
from ctxprop_reference.snapshot import VarRegistry
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    SnapshotAccess,
    SnapshotFault,
    Traits,
    Unsupported,
    WorkerInit,
)

_AMBIENT = (
    "a task runs in a copy of the worker loop's context (asyncio.create_task in "
    "Worker._run): values set at worker start are visible to tasks"
)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0


def backend_url() -> str:
    import os

    return os.environ.get("CTXPROP_REDIS_URL") or embedded_redis_url()


def _init_path(worker_init: WorkerInit | None) -> str | None:
    if worker_init is None:
        return None
    path = qualified_name(worker_init)
    try:
        if _resolve(path) is worker_init:
            return path
    except (ImportError, AttributeError):
        pass
    raise Unsupported(f"worker_init {path} is not importable by name in a worker process")


class _Docket(AsyncRuntimeAdapter):
    """What the docket rows share: submit, result, cancel through a caller-side ``Docket``."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]

    def __init__(self) -> None:
        self.lib = require("docket", "brokers")
        self.name = f"ctxprop-{uuid.uuid4().hex[:12]}"

    async def _open_caller(self, url: str) -> None:
        self.docket = self.lib.Docket(name=self.name, url=url)
        await self.docket.__aenter__()
        self.docket.register(run_probe_async)

    async def _warm(self) -> None:
        """Every worker is serving before anything is measured: one no-op round trip."""
        from ctxprop_conformance.probes import task_read_async

        warm = await self.submit(task_read_async, [])
        await self.result(warm, START_TIMEOUT)

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return await self.docket.add(run_probe_async)(task_name(fn), *args)

    async def result(self, handle: Any, timeout: float) -> Any:
        # docket raises the builtin TimeoutError past the bound
        return await handle.get_result(timeout=timedelta(seconds=timeout))

    async def cancel(self, handle: Any, timeout: float) -> None:
        await self.docket.cancel(handle.key)
        with contextlib.suppress(self.lib.ExecutionCancelled):
            await handle.get_result(timeout=timedelta(seconds=timeout))

    async def _close_caller(self) -> None:
        await asyncio.wait_for(self.docket.__aexit__(None, None, None), STOP_TIMEOUT)


class DocketMemory(_Docket):
    """``memory://``: one ``Worker(concurrency=workers)`` task on the caller's loop."""

    traits: ClassVar[Traits] = Traits(model="copy", reuses_workers=True, worker_ambient=_AMBIENT)

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        url = f"memory://{self.name}"
        await self._open_caller(url)
        # created here, so it copies the context the suite chose for start (F7)
        self._worker = asyncio.create_task(self._serve(url, workers, worker_init))
        await self._warm()

    async def _serve(self, url: str, workers: int, worker_init: WorkerInit | None) -> None:
        if worker_init is not None:
            worker_init()
        async with self.lib.Docket(name=self.name, url=url) as docket:
            docket.register(run_probe_async)
            async with self.lib.Worker(docket, concurrency=workers) as worker:
                await worker.run_forever()

    async def stop(self) -> None:
        self._worker.cancel()
        try:
            await asyncio.wait_for(
                asyncio.gather(self._worker, return_exceptions=True), STOP_TIMEOUT
            )
        finally:
            await self._close_caller()


class DocketRedis(_Docket):
    """A docket worker in its own process on Redis (embedded fakeredis or $CTXPROP_REDIS_URL)."""

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True, worker_ambient=_AMBIENT
    )

    def __init__(self) -> None:
        super().__init__()
        self.registry = VarRegistry()
        fork_server.warm()  # its imports done before any check's bound

    def _worker_args(self) -> tuple[list[Any] | None, bytes | None]:
        return None, None

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        url = backend_url()
        specs, key = self._worker_args()
        init = _init_path(worker_init)
        self.process = fork_server.context().Process(
            target=serve, args=(url, self.name, workers, init, specs, key), daemon=True
        )
        # the fork server's children start from its clean context, whatever start's is
        contextvars.Context().run(self.process.start)
        try:
            await self._open_caller(url)
            await self._warm()
        except BaseException:
            self._kill()
            raise

    def _kill(self) -> None:
        self.process.terminate()  # docket's Worker.run stops on SIGTERM
        self.process.join(STOP_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_TIMEOUT)
        self.process.close()

    async def stop(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._kill)
        finally:
            try:
                async with self.docket.redis() as redis:
                    keys = [key async for key in redis.scan_iter(match=f"{self.docket.prefix}*")]
                    if keys:
                        await redis.delete(*keys)
            finally:
                await self._close_caller()

    def nested_runner(self) -> dict[str, Any]:
        return {"factory": "ctxprop_conformance.ecosystem.docket_worker:nested_runner", "args": []}


class _Access(SnapshotAccess):
    """S3/S4: spoil the next task's stored snapshot; read what workers reported."""

    def __init__(self, adapter: DocketRedisCtxprop) -> None:
        self.adapter = adapter

    def corrupt_next(self, fault: SnapshotFault, payload: bytes | None = None) -> None:
        self.adapter.fault = (fault, payload)

    def warnings(self) -> list[str]:
        import redis

        client = redis.Redis.from_url(self.adapter.url)
        try:
            raw = client.lrange(self.adapter.context.warnings_key(self.adapter.docket), 0, -1)
        finally:
            client.close()
        return [item.decode() for item in raw]


class DocketRedisCtxprop(DocketRedis):
    """``docket.redis`` with ``DocketContext``: snapshot at add, fresh restored Context per task."""

    traits: ClassVar[Traits] = Traits(
        model="copy",
        crosses_process=True,
        reuses_workers=True,
        vars_travel="registered",
        worker_ambient=(
            "each task runs in a fresh Context restored from its snapshot (plus docket's own "
            "current_docket/current_worker/current_execution): worker-start values are not visible"
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        from ctxprop_reference.integrations.docket import DocketContext

        self.key = secrets.token_bytes(32)
        self.context = DocketContext(self.registry, signing_key=self.key, codec=probe_codec())
        self.fault: tuple[SnapshotFault, bytes | None] | None = None
        self.url = backend_url()

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        self.registry.register_importable(var.name)  # refuses a var a worker cannot import (S6)

    def _worker_args(self) -> tuple[list[Any] | None, bytes | None]:
        return list(self.registry.specs()), self.key

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        fault, self.fault = self.fault, None
        if fault is None:
            return await self.context.add(self.docket, run_probe_async)(task_name(fn), *args)
        return await self._submit_spoiled(*fault, task_name(fn), *args)

    async def _submit_spoiled(self, fault: str, payload: bytes | None, *args: Any) -> Any:
        task_key = uuid.uuid4().hex
        record = self.context.serializer.dumps(task_key)
        snapshot_key = self.context.snapshot_key(self.docket, task_key)
        async with self.docket.redis() as redis:
            if fault != "missing":
                await redis.set(snapshot_key, _spoiled(record, fault, payload), px=60_000)
            if fault == "expired":
                await redis.pexpireat(snapshot_key, 1)  # its TTL has passed: Redis drops it
        return await self.docket.add(TASK, key=task_key)(*args)

    def snapshot_access(self) -> SnapshotAccess:
        return _Access(self)
