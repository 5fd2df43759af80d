"""rq: ``SimpleWorker`` and the forking ``Worker``, each in its own process, on Redis.

rq's documentation promises nothing about contextvars: a job is its function,
arguments and ``meta``, pickled (rq's default serializer).  Each row starts one
rq worker process per worker the suite asks for (an rq worker runs one job at a
time), forked from the rows' fork server with rq imported once, on the Redis at
``$CTXPROP_REDIS_URL`` or else the embedded fakeredis.  ``SimpleWorker`` runs
jobs in the worker process itself; ``Worker`` forks a work horse from the
worker for every job.  The caller uses ``Queue.enqueue(run_probe, name, *args)``
and ``job.latest_result(timeout)``.  The ``+ctxprop`` rows are the same with the
queue and job classes of :mod:`ctxprop_reference.integrations.rq`.
"""

from __future__ import annotations

import builtins
import contextvars
import re
import secrets
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance import probes
from ctxprop_conformance.ecosystem import fork_server, require
from ctxprop_conformance.ecosystem._celery_rq_process import (
    Access,
    SpoilingStore,
    WorkerProcess,
    backend_url,
    connect,
    qualified,
    resolve,
)
from ctxprop_conformance.ecosystem._rq_worker import classes, warnings_key, worker_main
from ctxprop_conformance.probes import run_probe, task_name
from pytest_ctxprop.adapter import (
    RuntimeAdapter,
    SnapshotAccess,
    Traits,
    Unsupported,
    WorkerInit,
)

__all__ = ["RqSimpleWorker", "RqSimpleWorkerCtxprop", "RqWorker", "RqWorkerCtxprop", "outcome"]

_DATACLASSES = (
    ("ctxprop_conformance.probes:Record", "ctxprop:Record"),
    ("ctxprop_conformance.probes:Dependency", "ctxprop:Dependency"),
)
#: where a failed job's exception type may be rebuilt from (rq keeps only its traceback text)
_REBUILT = {"builtins": vars(builtins), "ctxprop_conformance.probes": vars(probes)}
_LAST_LINE = re.compile(r"^(?:(?P<module>[\w.]+)\.)?(?P<name>\w+)(?:: (?P<message>.*))?$")


class RqJobFailed(Exception):
    """A failed job whose exception type is not rebuilt here; holds rq's last traceback line."""


class RqJobStopped(Exception):
    """The job was stopped (``send_stop_job_command``) before it finished."""


def _rebuilt(exc_string: str) -> BaseException:
    """The exception a failed job raised, from rq's traceback text (its last line)."""
    last = exc_string.strip().splitlines()[-1] if exc_string.strip() else ""
    found = _LAST_LINE.match(last)
    if found is not None:
        space = _REBUILT.get(found["module"] or "builtins")
        cls = space.get(found["name"]) if isinstance(space, dict) else None
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(found["message"] or "")
            except Exception:
                pass
    return RqJobFailed(last)


def enqueue(queue: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``queue.enqueue(run_probe, name, *args)``, the job id named after the queue (cleanup)."""
    return queue.enqueue(run_probe, task_name(fn), *args, job_id=f"{queue.name}-{uuid.uuid4().hex}")


def outcome(job: Any, timeout: float) -> Any:
    """``job.latest_result(timeout)``: its return value, or its exception raised here."""
    from rq.results import Result

    # rq blocks on the results stream (XREAD BLOCK, whole milliseconds of whole seconds)
    result = job.latest_result(timeout=max(1, int(timeout)))
    if result is None:
        raise TimeoutError(f"job {job.id} still running after {timeout}s")
    if result.type == Result.Type.SUCCESSFUL:
        return result.return_value
    if result.type == Result.Type.STOPPED:
        raise RqJobStopped(f"job {job.id} was stopped")
    raise _rebuilt(result.exc_string or "")


def stop_job(job: Any, timeout: float) -> None:
    """rq's ``send_stop_job_command`` (the worker kills the work horse), then wait for it."""
    from rq.command import send_stop_job_command

    send_stop_job_command(job.connection, job.id)
    if job.latest_result(timeout=max(1, int(timeout))) is None:
        raise TimeoutError(f"job {job.id} did not stop within {timeout}s")


def cleanup(connection: Any, queue: str) -> None:
    """Delete what rq kept of this row's queue, workers and jobs (all named after the queue)."""
    keys = list(connection.scan_iter(match=f"rq:*{queue}*", count=500))
    keys += connection.scan_iter(match=f"ctxprop:{queue}:*", count=500)  # snapshots, warnings
    if keys:
        connection.delete(*keys)
    for name in ("rq:workers", "rq:queues"):
        members = [m for m in connection.smembers(name) if queue.encode() in m]
        if members:
            connection.srem(name, *members)


class _Rq(RuntimeAdapter):
    """What both rq workers share: a queue named for this check, one process per worker."""

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True,
        worker_ambient="a job runs in the worker process's context: values set before "
        "work() are visible to jobs",
    )  # fmt: skip
    simple: ClassVar[bool] = True
    ctxprop: ClassVar[bool] = False

    def __init__(self) -> None:
        require("rq", "brokers")
        fork_server.warm()  # its imports done before any check's bound
        self._specs: list[tuple[str, str, bool]] = []
        self.store: SpoilingStore | None = None

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        try:  # a worker finds a var by its "module:attribute" name, as the probe vars are named
            importable = resolve(var.name) is var
        except (ImportError, AttributeError, ValueError):
            importable = False
        if not importable:
            raise ValueError(f"cannot register var {var.name!r}: not importable by its name (S6)")
        self._specs.append((var.name, var.name, False))

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:

        init = None
        if worker_init is not None:
            init = qualified(worker_init)
            if resolve(init) is not worker_init:
                raise Unsupported(f"worker_init {init} is not importable by name in a worker")
        queue = f"ctxprop-rq-{uuid.uuid4().hex[:12]}"
        self.config: dict[str, Any] = {"url": backend_url(), "queue": queue,
                                       "simple": self.simple}  # fmt: skip
        if self.ctxprop:
            self.config["ctxprop"] = {"specs": self._specs, "key": secrets.token_hex(32),
                                      "dataclasses": _DATACLASSES}  # fmt: skip
        self.connection = connect(self.config["url"])
        self.store = SpoilingStore(self.config["url"]) if self.ctxprop else None
        self.queue = classes(self.config, self.store)[0](queue, connection=self.connection)
        self.workers = [WorkerProcess(qualified(worker_main), (self.config, i, init))
                        for i in range(workers)]  # fmt: skip
        try:
            for worker in self.workers:  # all forked first: they get ready side by side
                worker.launch()
            for worker in self.workers:
                worker.wait_ready(self.config["url"])
        except BaseException:
            self.stop()  # the suite calls stop() only after a start that returned
            raise

    def stop(self) -> None:
        try:
            for worker in getattr(self, "workers", ()):
                worker.stop()
        finally:
            if hasattr(self, "connection"):
                try:
                    cleanup(self.connection, self.config["queue"])
                finally:
                    self.connection.close()
                    if self.store is not None:
                        self.store.close()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return enqueue(self.queue, fn, *args)

    def result(self, handle: Any, timeout: float) -> Any:
        return outcome(handle, timeout)

    def nested_runner(self) -> dict[str, Any]:
        return {"factory": "ctxprop_conformance.ecosystem._rq_worker:nested_runner", "args": []}


class RqSimpleWorker(_Rq):
    """``SimpleWorker``: jobs run one after another in the worker process, no fork."""


class RqWorker(_Rq):
    """rq's default ``Worker``: every job runs in a work horse forked from the worker."""

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True,
        worker_ambient="a job runs in a fork of the worker process: values set before work() "
        "are visible to jobs; nothing a job sets returns to the worker",
    )  # fmt: skip
    simple: ClassVar[bool] = False

    def cancel(self, handle: Any, timeout: float) -> None:
        stop_job(handle, timeout)


_CTXPROP = Traits(
    model="copy", crosses_process=True, reuses_workers=True, vars_travel="registered",
    worker_ambient="each job runs in a new context holding only its snapshot: values set at "
    "worker start are not visible",
)  # fmt: skip


class _Snapshots(_Rq):
    def snapshot_access(self) -> SnapshotAccess:
        assert self.store is not None
        return Access(self.store, warnings_key(self.config))


class RqSimpleWorkerCtxprop(_Snapshots, RqSimpleWorker):
    """``SimpleWorker`` with ``RqContext``'s queue and job classes."""

    traits: ClassVar[Traits] = _CTXPROP
    ctxprop: ClassVar[bool] = True


class RqWorkerCtxprop(_Snapshots, RqWorker):
    """The forking ``Worker`` with ``RqContext``'s queue and job classes."""

    traits: ClassVar[Traits] = _CTXPROP
    ctxprop: ClassVar[bool] = True
