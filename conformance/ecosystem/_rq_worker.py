"""The rq side of the rq rows, built the same from plain data in the caller and the worker.

:func:`classes` gives the ``Queue`` and ``Job`` classes of a config (rq's own, or
those of :mod:`ctxprop_reference.integrations.rq`); :func:`worker_main` is one
worker process: rq's ``SimpleWorker`` (jobs run in the worker process) or its
forking ``Worker`` (each job in a work horse forked from it).  The job function
is the one generic task ``ctxprop_conformance.probes.run_probe``.
"""

from __future__ import annotations

from typing import Any

from ctxprop_conformance.ecosystem._celery_rq_process import (
    announce,
    connect,
    forward_warnings,
    resolve,
)

#: this worker process's connection and config, once it serves (F6 nested submits)
_worker: tuple[Any, dict[str, Any]] | None = None


def warnings_key(config: dict[str, Any]) -> str:
    return f"ctxprop:{config['queue']}:warnings"


def carrier(config: dict[str, Any], store: Any = None) -> Any:
    """The integration object both sides build from the same registry specs and key."""
    from ctxprop_reference.integrations.rq import RqContext
    from ctxprop_reference.snapshot import JsonCodec, VarRegistry, VarSpec

    ctx = config["ctxprop"]
    registry = VarRegistry.from_specs(VarSpec(i, p, s) for i, p, s in ctx["specs"])
    codec = JsonCodec()
    for path, type_id in ctx["dataclasses"]:
        codec.register_dataclass(resolve(path), type_id)
    return RqContext(registry, store=store, signing_key=bytes.fromhex(ctx["key"]), codec=codec,
                     key_prefix=f"ctxprop:{config['queue']}:snapshot:")  # fmt: skip


def classes(config: dict[str, Any], store: Any = None) -> tuple[type, type]:
    """(queue class, job class) of ``config``; ``store``: the caller's, for S3/S4."""
    from rq import Queue
    from rq.job import Job

    if config.get("ctxprop") is None:
        return Queue, Job
    ctx = carrier(config, store)
    return ctx.queue_class(), ctx.job_class()


def worker_main(config: dict[str, Any], index: int, worker_init: str | None,
                ready_key: str) -> None:  # fmt: skip
    """A worker process's main: build the worker, run ``worker_init``, then ``work()``."""
    global _worker
    from rq import SimpleWorker, Worker

    try:
        connection = connect(config["url"])
        queue_class, job_class = classes(config)
        worker_class = SimpleWorker if config["simple"] else Worker
        worker = worker_class(
            [queue_class(config["queue"], connection=connection)], connection=connection,
            name=f"{config['queue']}-w{index}", job_class=job_class, queue_class=queue_class,
        )  # fmt: skip
        _worker = (connection, config)
        if config.get("ctxprop") is not None:  # S3: the worker's snapshot warnings
            forward_warnings(config["url"], warnings_key(config))
        if worker_init is not None:  # rq's way: code run in the worker script before work()
            resolve(worker_init)()
    except BaseException as exc:
        announce(config["url"], ready_key, {"error": repr(exc)})
        raise
    announce(config["url"], ready_key, {"ready": index})
    worker.work(logging_level="WARNING", with_scheduler=False)


class NestedRunner:
    """F6: enqueue on the worker's own queue from inside a job, and wait for its result."""

    def __init__(self, timeout: float) -> None:
        if _worker is None:
            raise RuntimeError("nested_runner() is for jobs running in an rq row's worker")
        connection, config = _worker
        self.queue = classes(config)[0](config["queue"], connection=connection)
        self.timeout = timeout

    def call(self, fn: Any, *args: Any) -> Any:
        from ctxprop_conformance.ecosystem.rq_runtimes import enqueue, outcome

        return outcome(enqueue(self.queue, fn, *args), self.timeout)


def nested_runner(timeout: float = 10.0) -> NestedRunner:
    return NestedRunner(timeout)
