"""dask.distributed: ``client.submit(fn, *args, pure=False).result(timeout)``.

distributed documents no propagation of the caller's contextvars: a thread
worker runs a task in a copy of its own event loop's context
(``run_in_executor_with_context`` in ``distributed/worker.py``), and for a
process pool executor it says "Can't capture contextvars across processes".
``pure=False`` is dask's documented switch for functions whose result is not
determined by their arguments alone (these read context), so no result is
reused from an earlier equal call.

* ``dask.threads``: ``Client(processes=False)``: one in-process worker with
  ``workers`` threads.
* ``dask.processes``: ``Client(processes=True, n_workers=workers)``, one
  thread per worker process.  A fresh cluster per check starts worker
  processes through distributed's own ``forkserver`` multiprocessing method
  (config ``distributed.worker.multiprocessing-method``): the rows' fork
  server (``fork_server``, distributed preloaded), so one costs well under a
  second instead of a spawn and full import per worker.
* ``dask.processes+ctxprop``: the same with
  ``ctxprop_reference.integrations.dask.DaskContext.submit``.

No ``cancel``: ``Client.cancel`` stops tasks that have not run yet and deletes
finished results; it does not stop a running task, so I5 is ``n/a``.
distributed has no start hook that runs in the threads that run tasks, so
``worker_init`` is not offered (I6 ``n/a``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance import probes
from ctxprop_conformance.ecosystem import fork_server, require
from ctxprop_conformance.probes import run_probe, task_name
from ctxprop_reference.snapshot import JsonCodec, VarRegistry
from pytest_ctxprop.adapter import Capabilities, RuntimeAdapter, Traits, WorkerInit

STOP_TIMEOUT = 5.0
NESTED_TIMEOUT = 10.0
_AMBIENT = "no worker start hook in the task threads (worker_init not offered)"


def probe_codec() -> JsonCodec:
    """The JSON codec with the probe dataclasses (F4, I2); workers import it by path."""
    codec = JsonCodec()
    for cls in (probes.Record, probes.Dependency):
        codec.register_dataclass(cls, f"{cls.__module__}:{cls.__qualname__}")
    return codec


class _Nested:
    """F6 inside a worker process: ``worker_client()`` (secede/rejoin), then submit and wait."""

    def __init__(self, wire: list[Any] | None) -> None:
        self.context: Any = None
        if wire is not None:
            from ctxprop_reference.integrations.dask import DaskContext

            self.context = DaskContext.from_wire(wire)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        from distributed import worker_client

        with worker_client() as client:
            if self.context is not None:
                future = self.context.submit(client, run_probe, task_name(fn), *args)
            else:
                future = client.submit(run_probe, task_name(fn), *args, pure=False)
            return future.result(timeout=NESTED_TIMEOUT)


def nested_runner(wire: list[Any] | None = None) -> _Nested:
    """The factory an F6 task calls in a worker process."""
    return _Nested(wire)


class DaskThreads(RuntimeAdapter):
    """``distributed.Client(processes=False)``: one in-process worker, ``workers`` threads."""

    traits: ClassVar[Traits] = Traits(model="copy", reuses_workers=True, worker_ambient=_AMBIENT)
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)

    def __init__(self) -> None:
        self.distributed = require("distributed", "dask")

    def new_client(self, workers: int) -> Any:
        return self.distributed.Client(
            processes=False, n_workers=1, threads_per_worker=workers, dashboard_address=":0"
        )

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.client = self.new_client(workers)

    def stop(self) -> None:
        cluster = self.client.cluster
        try:
            self.client.close(timeout=STOP_TIMEOUT)
        finally:
            if cluster is not None:
                cluster.close(timeout=STOP_TIMEOUT)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.client.submit(run_probe, task_name(fn), *args, pure=False)

    def result(self, handle: Any, timeout: float) -> Any:
        return handle.result(timeout=timeout)  # distributed raises the builtin TimeoutError


class DaskProcesses(DaskThreads):
    """``Client(processes=True, n_workers=workers, threads_per_worker=1)``, forkserver workers."""

    traits: ClassVar[Traits] = Traits(
        model="copy",
        crosses_process=True,
        reuses_workers=True,
        worker_ambient="tasks run in the worker process's own context",
    )
    capabilities: ClassVar[Capabilities] = Capabilities(max_workers=2, worker_init=False)

    def __init__(self) -> None:
        super().__init__()
        self.dask = require("dask", "dask")
        fork_server.warm()  # distributed imported there before any check's bound

    def new_client(self, workers: int) -> Any:
        with self.dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
            # worker processes fork from the fork server: its clean context, not start's
            return contextvars.Context().run(
                self.distributed.Client,
                processes=True, n_workers=workers, threads_per_worker=1, dashboard_address=":0",
            )  # fmt: skip

    def nested_runner(self) -> dict[str, Any]:
        return {"factory": f"{__name__}:nested_runner", "args": []}


class DaskProcessesCtxprop(DaskProcesses):
    """``dask.processes`` with ``DaskContext.submit``: the registered vars travel as a snapshot."""

    traits: ClassVar[Traits] = Traits(
        model="copy",
        crosses_process=True,
        reuses_workers=True,
        vars_travel="registered",
        worker_ambient="each task runs in a fresh Context restored from its snapshot",
    )

    def __init__(self) -> None:
        super().__init__()
        self.registry = VarRegistry()

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        self.registry.register_importable(var.name)  # refuses a var a worker cannot import (S6)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        from ctxprop_reference.integrations.dask import DaskContext

        self.context = DaskContext(self.registry, codec=f"{__name__}:probe_codec")
        super().start(workers=workers, worker_init=worker_init)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.context.submit(self.client, run_probe, task_name(fn), *args)

    def nested_runner(self) -> dict[str, Any]:
        return {"factory": f"{__name__}:nested_runner", "args": [list(self.context.wire)]}
