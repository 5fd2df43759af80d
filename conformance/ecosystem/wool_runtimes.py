"""wool: ``await routine(...)`` dispatched to a ``wool.WorkerPool`` of local worker processes.

wool documents what crosses its worker boundary: "Python's
``contextvars.ContextVar`` cannot be pickled [...] so ambient state has no
built-in way to cross process boundaries.  ``wool.ContextVar`` solves this"
(README, *Context propagation*).  So there are two rows:

* ``wool.routine``: the suite's probe vars (stdlib ``ContextVar``) across a
  ``@wool.routine`` dispatch to a real pool, ``WorkerPool(spawn=workers)``.
  The README's sentence is a declared ``vars_travel="none"``: the cells that
  need a var to arrive are ``D``, the rest are measured.
* ``wool.contextvar``: wool's own ``wool.ContextVar``.  Not measurable through
  contract v2 (:data:`CONTEXTVAR_REASON`); the row is ``n/a`` with that reason.

Worker start.  wool's ``WorkerProcess`` is a ``spawn`` process: every worker
imports wool afresh (2.6-5.2 s here), so a pool per check would put 16 checks
at 3-6 s each past a 20 s row.  The pool is given wool's documented ``worker=``
factory, a :class:`LocalWorker` whose process is started from a fork server of
this module's own with wool preloaded (the dask rows do the same through
dask's own setting).  The worker is the same: a fresh process with an empty
context, its own event loop thread, the same gRPC server; only the imports are
paid once, at construction (before any check's bound).  The row test compares
F1 with a plain ``WorkerPool(spawn=1)`` of spawned workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import Callable, Iterator
from multiprocessing import forkserver, reduction, spawn, util
from multiprocessing.context import ForkServerProcess, set_spawning_popen
from typing import Any, ClassVar

from ctxprop_conformance.ecosystem import fork_server, require
from ctxprop_conformance.probes import run_probe_async, task_name
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    Capabilities,
    RuntimeUnavailable,
    Traits,
    WorkerInit,
)

try:  # the module imports without wool: its rows are then n/a, naming the extra
    import wool
    from wool.runtime.worker.local import LocalWorker
    from wool.runtime.worker.process import WorkerProcess
except ImportError:
    wool = None  # type: ignore[assignment]
try:
    from multiprocessing import popen_forkserver
except ImportError:  # no fd passing (Windows): no fork server
    popen_forkserver = None  # type: ignore[assignment]
_NO_FORK_SERVER = "wool.routine starts its workers from a fork server, which needs fd passing"

STOP_GRACE = 5.0  # WorkerPool's shutdown bound: a check's clean-up has one bound
PRELOAD = ["wool", __name__, "ctxprop_conformance.probes"]
_GRPC_FORK_SUPPORT = "GRPC_ENABLE_FORK_SUPPORT"  # wool spawns its workers with it at "0"

CONTEXTVAR_REASON = (
    "not measurable through contract v2: wool propagates only wool.ContextVar "
    "(README: 'Python's contextvars.ContextVar cannot be pickled [...] wool.ContextVar "
    "solves this'), while the suite's probe vars are stdlib ContextVars "
    "(ctxprop_conformance.probe_vars) and the contract has no way for an adapter to name "
    "the var type its runtime carries (a probe-var factory the suite would build V, W, D, "
    "U and the F4/S1 vars from, read by the probes in the worker). Mirroring each probe "
    "var into a wool.ContextVar in the adapter would be context handling of the "
    "adapter's own, which the honest-measurement rules forbid; the wool.routine row "
    "measures the stdlib vars"
)

_server = forkserver.ForkServer()  # this module's own: dask's rows use the global one
_server.set_forkserver_preload(PRELOAD)


@contextlib.contextmanager
def _grpc_fork_support_default() -> Iterator[None]:
    """What wool sets around a worker spawn, for the fork server the workers inherit it from."""
    if _GRPC_FORK_SUPPORT in os.environ:
        yield
        return
    os.environ[_GRPC_FORK_SUPPORT] = "0"
    try:
        yield
    finally:
        os.environ.pop(_GRPC_FORK_SUPPORT, None)


class _Popen(popen_forkserver.Popen if popen_forkserver else object):  # type: ignore[misc]
    """``popen_forkserver.Popen`` that asks this module's fork server, not the global one."""

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = _server.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)  # the child's sentinel of its parent, as the stdlib keeps it
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _ServerProcess(ForkServerProcess):
    """A process started by this module's fork server."""

    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:  # type: ignore[override]
        return _Popen(process_obj)


def _warm_process(**kwargs: Any) -> _ServerProcess:
    """The warm-up's child, from this module's server, started as wool starts its workers."""
    with _grpc_fork_support_default():
        _server.ensure_running()
    return _ServerProcess(**kwargs)


#: wool's server gets wool's imports alone: no other row pays wool's 3-5 s import
_warm_fork_server = fork_server.Warmup(_warm_process)


if wool is not None:

    class _ForkServerWorkerProcess(WorkerProcess):  # type: ignore[misc]
        """wool's ``WorkerProcess`` (its ``run`` unchanged), forked from the warm server."""

        _start_method = "forkserver"

        @staticmethod
        def _Popen(process_obj: Any) -> _Popen:  # type: ignore[override]
            return _Popen(process_obj)

    class ForkServerWorker(LocalWorker):
        """``wool.LocalWorker`` whose process comes from the fork server instead of a spawn."""

        def __init__(self, *tags: str, **options: Any) -> None:
            super().__init__(*tags, **options)
            self._worker_process.__class__ = _ForkServerWorkerProcess

    @wool.routine
    async def ctxprop_run_probe(target: str, *args: Any) -> Any:
        """The one routine: a probe body by name (``run_probe_async``), run on a worker."""
        return await run_probe_async(target, *args)


class _Nested:
    """F6 inside a worker: the routine again, which wool dispatches through the task's proxy."""

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await ctxprop_run_probe(task_name(fn), *args)


def nested_runner() -> _Nested:
    """The factory an F6 task calls on a worker (wool's documented nested dispatch)."""
    return _Nested()


class WoolRoutine(AsyncRuntimeAdapter):
    """``asyncio.create_task(routine(...))`` in a ``WorkerPool(spawn=workers)``; stdlib vars."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits(
        model="copy",
        crosses_process=True,
        reuses_workers=True,
        vars_travel="none",  # README: a stdlib ContextVar cannot be pickled; wool.ContextVar can
        worker_ambient="a routine runs on the worker's own event loop thread, in a context "
        "decoded from the dispatch frame (wool.ContextVar bindings only)",
    )
    # no worker start hook (WorkerPool/LocalWorker document none); cloudpickle carries args
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False, closures=True)

    def __init__(self) -> None:
        require("wool", "wool")
        if popen_forkserver is None:
            raise RuntimeUnavailable(_NO_FORK_SERVER)
        _warm_fork_server()

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.stack = contextlib.AsyncExitStack()
        # entering binds the pool's proxy in this task's context, where callers dispatch
        await self.stack.enter_async_context(
            wool.WorkerPool(spawn=workers, worker=ForkServerWorker, shutdown_timeout=STOP_GRACE)
        )

    async def stop(self) -> None:
        await self.stack.aclose()

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> asyncio.Task[Any]:
        # README: "dispatch occurs on await"; a task runs it beside the caller, as TaskGroup does
        return asyncio.create_task(ctxprop_run_probe(task_name(fn), *args))

    async def result(self, handle: asyncio.Task[Any], timeout: float) -> Any:
        return await asyncio.wait_for(asyncio.shield(handle), timeout)  # TimeoutError past it

    async def cancel(self, handle: asyncio.Task[Any], timeout: float) -> None:
        # README, Cancellation: cancelling the awaiting caller cancels the routine on the worker
        handle.cancel()
        await asyncio.wait({handle}, timeout=timeout)
        if not handle.done():
            raise TimeoutError(f"the cancelled wool routine still runs after {timeout}s")

    def nested_runner(self) -> dict[str, Any]:
        return {"factory": f"{__name__}:nested_runner", "args": []}


class WoolContextVar(WoolRoutine):
    """``wool.ContextVar`` across the same dispatch: ``n/a``, for :data:`CONTEXTVAR_REASON`."""

    traits: ClassVar[Traits] = Traits(
        model="awaited-call",  # README: worker-side mutations flow back to the caller
        crosses_process=True,
        reuses_workers=True,
        token_transport=True,  # README: wool Tokens are scoped to their chain, across processes
        worker_ambient="a routine runs under the caller's chain, decoded from the dispatch frame",
    )

    def __init__(self) -> None:
        require("wool", "wool")
        raise RuntimeUnavailable(f"wool.ContextVar: {CONTEXTVAR_REASON}")
