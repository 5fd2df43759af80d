"""celery: a real prefork worker in its own process on Redis, and ``task_always_eager``.

Celery's documentation promises nothing about contextvars: a message carries
the task's name, arguments and celery's own headers.  ``CeleryWorker`` runs
``celery worker --pool=prefork --concurrency=N`` (``app.Worker(...).start()``) in
a process forked from the rows' fork server (celery imported once there), on the
Redis at ``$CTXPROP_REDIS_URL`` or else the embedded fakeredis, broker and
result backend alike, JSON serializer.  ``CeleryEager`` sets
``task_always_eager=True``: ``apply_async`` runs the task in the calling thread
and returns an ``EagerResult`` (a blocking call: call style).  The ``+ctxprop``
rows are the same with :mod:`ctxprop_reference.integrations.celery` as task class.
"""

from __future__ import annotations

import contextvars
import secrets
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance.ecosystem import fork_server, require
from ctxprop_conformance.ecosystem._celery_app import (
    build_app,
    carrier,
    close_app,
    probe_task,
    warnings_key,
    worker_main,
)
from ctxprop_conformance.ecosystem._celery_rq_process import (
    Access,
    SpoilingStore,
    WorkerProcess,
    backend_url,
    qualified,
    resolve,
)
from ctxprop_conformance.ecosystem.redis_keys import delete_matching
from ctxprop_conformance.probes import task_name
from pytest_ctxprop.adapter import (
    Capabilities,
    RuntimeAdapter,
    SnapshotAccess,
    Traits,
    Unsupported,
    WorkerInit,
)

__all__ = ["CeleryEager", "CeleryEagerCtxprop", "CeleryWorker", "CeleryWorkerCtxprop"]

#: the dataclasses probe vars hold (F4, I2), as the snapshot codec registers them
_DATACLASSES = (
    ("ctxprop_conformance.probes:Record", "ctxprop:Record"),
    ("ctxprop_conformance.probes:Dependency", "ctxprop:Dependency"),
)
_PREFORK_AMBIENT = (
    "a task runs in its pool process's own context: values set in worker_process_init "
    "are visible to tasks"
)
_CTXPROP_AMBIENT = (
    "each task runs in a new context holding only its snapshot: values set at worker "
    "start are not visible"
)


#: ``get()`` refuses to block when celery's *process-global* flag says "inside a task".
#: Eager ``apply_async`` sets that flag around every eager run, from any thread, so a
#: concurrent caller (or a nested eager call) trips it although it is no task; the
#: documented opt-out ``disable_sync_subtasks=False`` is what a deliberate waiter passes.
_NOT_IN_A_TASK = "get(disable_sync_subtasks=False)"


def revoke(app: Any, result: Any, timeout: float) -> None:
    """``app.control.revoke(id, terminate=True)``: the prefork pool kills the process running it.

    Returns once the result backend holds the task's end (REVOKED, or its result if
    it finished first); the pool replaces the killed process with a new one.
    """
    from celery.exceptions import TimeoutError as CeleryTimeout

    app.control.revoke(result.id, terminate=True, signal="SIGKILL")
    try:
        result.get(timeout=timeout, propagate=False, disable_sync_subtasks=False)
    except CeleryTimeout:
        raise TimeoutError(f"task {result.id} did not stop within {timeout}s") from None


def _importable(fn: Callable[..., Any]) -> str:
    path = qualified(fn)
    try:
        if resolve(path) is fn:
            return path
    except (ImportError, AttributeError):
        pass
    raise Unsupported(f"worker_init {path} is not importable by name in a worker")


class _Celery(RuntimeAdapter):
    """What both celery modes share: an app built from plain config, one task, JSON."""

    ctxprop: ClassVar[bool] = False
    eager: ClassVar[bool] = False

    def __init__(self) -> None:
        require("celery", "brokers")
        if not self.eager:
            fork_server.warm()  # its imports done before any check's bound
        self._specs: list[tuple[str, str, bool]] = []

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        try:  # a worker finds a var by its "module:attribute" name, as the probe vars are named
            importable = resolve(var.name) is var
        except (ImportError, AttributeError, ValueError):
            importable = False
        if not importable:
            raise ValueError(f"cannot register var {var.name!r}: not importable by its name (S6)")
        self._specs.append((var.name, var.name, False))

    def _config(self, workers: int) -> dict[str, Any]:
        queue = f"ctxprop-celery-{uuid.uuid4().hex[:12]}"
        config: dict[str, Any] = {"url": backend_url(), "queue": queue, "workers": workers,
                                  "prefix": f"{queue}:", "eager": self.eager}  # fmt: skip
        if self.ctxprop:
            config["ctxprop"] = {"specs": self._specs, "key": secrets.token_hex(32),
                                 "dataclasses": _DATACLASSES}  # fmt: skip
        return config

    def _build(self, workers: int) -> None:
        self.config = self._config(workers)
        self.store = SpoilingStore(self.config["url"]) if self.ctxprop and not self.eager else None
        self.context = carrier(self.config, self.store) if self.ctxprop else None
        self.app = build_app(self.config, self.context)
        self.task = probe_task(self.app)

    def _close_app(self) -> None:
        try:
            close_app(self.app)
        finally:
            if self.context is not None:
                self.context.close()


class CeleryWorker(_Celery):
    """``run_probe.apply_async(args)`` to a prefork worker process; ``AsyncResult.get``."""

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True, worker_ambient=_PREFORK_AMBIENT
    )

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        init = None if worker_init is None else _importable(worker_init)
        self._build(workers)
        self.worker = WorkerProcess(qualified(worker_main), (self.config, init))
        try:
            self.worker.start(self.config["url"])
        except BaseException:
            self.worker.stop()
            self._close_app()
            raise

    def stop(self) -> None:
        try:
            self.worker.stop()
        finally:
            try:
                self._close_app()
            finally:
                delete_matching(self.config["url"], self.config["prefix"] + "*")

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.task.apply_async((task_name(fn), *args))

    def result(self, handle: Any, timeout: float) -> Any:
        from celery.exceptions import TimeoutError as CeleryTimeout

        try:  # the caller is no task: see _NOT_IN_A_TASK
            value = handle.get(timeout=timeout, disable_sync_subtasks=False)
        except CeleryTimeout:
            raise TimeoutError(f"task still running after {timeout}s") from None
        handle.forget()
        return value

    def cancel(self, handle: Any, timeout: float) -> None:
        revoke(self.app, handle, timeout)

    def nested_runner(self) -> dict[str, Any]:
        return {"factory": "ctxprop_conformance.ecosystem._celery_app:nested_runner", "args": []}


class CeleryWorkerCtxprop(CeleryWorker):
    """The same worker with ``CeleryContext.task_base()`` as the app's task class."""

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True, vars_travel="registered",
        worker_ambient=_CTXPROP_AMBIENT,
    )  # fmt: skip
    ctxprop: ClassVar[bool] = True

    def snapshot_access(self) -> SnapshotAccess:
        assert self.store is not None
        return Access(self.store, warnings_key(self.config))


class CeleryEager(_Celery):
    """``task_always_eager=True``: ``apply_async`` runs the task before it returns."""

    traits: ClassVar[Traits] = Traits(
        model="copy", worker_ambient="no worker: the task runs in the calling thread"
    )
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)
    eager: ClassVar[bool] = True

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self._build(workers)

    def stop(self) -> None:
        self._close_app()

    def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        result = self.task.apply_async((task_name(fn), *args))
        return result.get(timeout=timeout, disable_sync_subtasks=False)  # see _NOT_IN_A_TASK


class CeleryEagerCtxprop(CeleryEager):
    """Eager mode with the integration: the task body runs in a restored, separate Context."""

    traits: ClassVar[Traits] = Traits(
        model="copy", vars_travel="registered",
        worker_ambient="no worker: the task runs in the calling thread, in its snapshot",
    )  # fmt: skip
    ctxprop: ClassVar[bool] = True
