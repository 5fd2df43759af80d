"""The conformance adapters of the reference Redis queue (built-in ``reference.redis_queue``).

The queue runs one registered task, ``ctxprop_conformance.probes:run_probe``, in
worker processes; the adapter submits ``run_probe(task_name(fn), *args)`` as
docs/adapters.md describes for brokers.  The backend is the Redis at
``$CTXPROP_REDIS_URL``, or else this process's embedded fakeredis server.
"""

from __future__ import annotations

import contextvars
import os
import secrets
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance import probes
from ctxprop_conformance.probes import run_probe, run_probe_async, task_name
from ctxprop_reference.redis_queue import (
    QueueConfig,
    RedisTaskQueue,
    TaskHandle,
    _resolve,
    embedded_redis_url,
    qualified_name,
)
from ctxprop_reference.redis_queue_pool import WorkerPool
from ctxprop_reference.snapshot import VarRegistry
from pytest_ctxprop.adapter import (
    Capabilities,
    RuntimeAdapter,
    SnapshotAccess,
    SnapshotFault,
    Traits,
    Unsupported,
    WorkerInit,
)

__all__ = ["RedisQueueAdapter", "RequiredSnapshotQueueAdapter"]

ENV_URL = "CTXPROP_REDIS_URL"
RUN_PROBE = task_name(run_probe)
#: the dataclasses probe vars hold (F4, I2), by the import path of where they are defined
_PROBE_DATACLASSES = (qualified_name(probes.Record), qualified_name(probes.Dependency))


def backend_url() -> str:
    """``$CTXPROP_REDIS_URL`` if set, else the embedded fakeredis server of this process."""
    return os.environ.get(ENV_URL) or embedded_redis_url()


class _Access(SnapshotAccess):
    """S3/S4: spoil the stored snapshot of the adapter's next task; read the workers' warnings."""

    def __init__(self, adapter: RedisQueueAdapter) -> None:
        self._adapter = adapter

    def corrupt_next(self, fault: SnapshotFault, payload: bytes | None = None) -> None:
        self._adapter._fault = (fault, payload)

    def warnings(self) -> list[str]:
        return self._adapter.queue.snapshot_warnings()


class RedisQueueAdapter(RuntimeAdapter):
    """``RedisTaskQueue`` with a ``WorkerPool`` of worker processes (forkserver launcher)."""

    traits: ClassVar[Traits] = Traits(
        model="copy",
        crosses_process=True,
        reuses_workers=True,
        vars_travel="registered",
        worker_ambient=(
            "each task runs in a fresh context holding only its snapshot: values set at "
            "worker start are not visible to tasks"
        ),
    )
    capabilities: ClassVar[Capabilities] = Capabilities()
    launcher: ClassVar[str] = "forkserver"

    def __init__(self) -> None:
        self._registry = VarRegistry()
        self._fault: tuple[str, bytes | None] | None = None

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        # workers register the same var by its import path, which the probe var's name is
        try:
            found = _resolve(var.name)
        except (ImportError, AttributeError, ValueError):
            found = None
        if found is not var:
            raise ValueError(
                f"cannot register var {var.name!r}: a worker process finds a var by its "
                "'module:attribute' import path, and this var is not importable by its name (S6)"
            )
        self._registry.register_importable(var.name)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        init = None
        if worker_init is not None:
            init = qualified_name(worker_init)
            try:
                importable = _resolve(init) is worker_init
            except (ImportError, AttributeError):
                importable = False
            if not importable:
                raise Unsupported(f"worker_init {init} is not importable by name in a worker")
        config = QueueConfig(
            url=backend_url(),
            queue=uuid.uuid4().hex[:12],
            prefix="ctxprop:refqueue",
            tasks=(RUN_PROBE, task_name(run_probe_async)),
            var_specs=self._registry.specs(),
            dataclasses=_PROBE_DATACLASSES,
            signing_key=secrets.token_bytes(32),
            snapshot_required=self.capabilities.snapshot_required,
        )
        self.queue = RedisTaskQueue(config)
        self.pool = WorkerPool(
            config, workers, worker_init=init, launcher=self.launcher,  # type: ignore[arg-type]
            preload=("ctxprop_conformance.probes",),
        )  # fmt: skip
        try:
            self.pool.start()
        except BaseException:
            self.queue.close()
            raise

    def stop(self) -> None:
        try:
            self.pool.stop()
        finally:
            try:
                self.queue.purge()
            finally:
                self.queue.close()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> TaskHandle:
        fault, self._fault = self._fault, None
        if fault is None:
            return self.queue.submit(RUN_PROBE, task_name(fn), *args)
        return self.queue.submit_with_fault(*fault, RUN_PROBE, task_name(fn), *args)

    def result(self, handle: TaskHandle, timeout: float) -> Any:
        return self.queue.result(handle, timeout)

    def cancel(self, handle: TaskHandle, timeout: float) -> None:
        self.queue.cancel(handle, timeout)

    def snapshot_access(self) -> SnapshotAccess:
        return _Access(self)

    def nested_runner(self) -> dict[str, Any]:
        return {
            "factory": "ctxprop_reference.redis_queue_context:nested_runner",
            "args": [RUN_PROBE],
        }


class RequiredSnapshotQueueAdapter(RedisQueueAdapter):
    """The same queue with the snapshot declared required: a task without one fails closed (S3)."""

    capabilities: ClassVar[Capabilities] = Capabilities(snapshot_required=True)
