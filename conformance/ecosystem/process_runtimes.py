"""Process pools: ``multiprocessing.Pool``, ``ProcessPoolExecutor`` and loky, per start method.

None of them documents any context propagation: a task runs in whatever its
worker process has (for fork, a copy of the parent's context at the fork; for
spawn and loky, an empty one).  Pools are started, every worker created, in the
context the suite chooses before anything is measured.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from ctxprop_conformance.ecosystem import require
from pytest_ctxprop.adapter import (
    Capabilities,
    RuntimeAdapter,
    RuntimeUnavailable,
    Traits,
    WorkerInit,
)

_NOTHING = Traits(
    model="copy",
    crosses_process=True,
    reuses_workers=True,
    worker_ambient="tasks run in the worker process's own context",
)


def _no_op() -> None:
    """Submitted once per worker at start: every worker exists before measuring."""


def _context(method: str) -> Any:
    if method not in multiprocessing.get_all_start_methods():
        raise RuntimeUnavailable(f"this platform has no {method!r} start method")
    return multiprocessing.get_context(method)


@contextmanager
def _quiet_fork() -> Iterator[None]:
    """Python 3.12+ warns when forking with threads; a pool's children run tasks only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        yield


class _ProcessPool(RuntimeAdapter):
    """What every pool here shares: a start method, and every worker started up front."""

    traits: ClassVar[Traits] = _NOTHING
    capabilities: ClassVar[Capabilities] = Capabilities(max_workers=2)
    method: ClassVar[str] = "spawn"

    def __init__(self) -> None:
        self.mp = _context(self.method)

    def new_pool(self, workers: int, worker_init: WorkerInit | None) -> Any:
        raise NotImplementedError

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        with _quiet_fork():
            self.pool = self.new_pool(workers, worker_init)
            for handle in [self.submit(_no_op) for _ in range(workers)]:
                self.result(handle, 60)


class MultiprocessingPool(_ProcessPool):
    """``multiprocessing.Pool.apply_async(fn, args).get(timeout)``, spawn start method."""

    def new_pool(self, workers: int, worker_init: WorkerInit | None) -> Any:
        return self.mp.Pool(workers, initializer=worker_init)

    def stop(self) -> None:
        self.pool.terminate()
        self.pool.join()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.pool.apply_async(fn, args)

    def result(self, handle: Any, timeout: float) -> Any:
        try:
            return handle.get(timeout)
        except multiprocessing.TimeoutError:
            raise TimeoutError(f"task still running after {timeout}s") from None


class MultiprocessingPoolFork(MultiprocessingPool):
    """``multiprocessing.Pool`` with the fork start method."""

    method: ClassVar[str] = "fork"


class ProcessPoolExecutorSpawn(_ProcessPool):
    """``concurrent.futures.ProcessPoolExecutor(mp_context=spawn).submit``."""

    def new_pool(self, workers: int, worker_init: WorkerInit | None) -> Any:
        return concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=self.mp, initializer=worker_init
        )

    def stop(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.pool.submit(fn, *args)

    def result(self, handle: Any, timeout: float) -> Any:
        return handle.result(timeout)


class ProcessPoolExecutorFork(ProcessPoolExecutorSpawn):
    """``ProcessPoolExecutor`` with the fork start method."""

    method: ClassVar[str] = "fork"


class Loky(ProcessPoolExecutorSpawn):
    """``loky.ProcessPoolExecutor(n).submit``: cloudpickle, its own robust process start."""

    def __init__(self) -> None:
        self.loky = require("loky", "ecosystem")

    def new_pool(self, workers: int, worker_init: WorkerInit | None) -> Any:
        return self.loky.ProcessPoolExecutor(workers, initializer=worker_init)

    def stop(self) -> None:
        self.pool.shutdown(wait=True, kill_workers=True)  # loky's shutdown has no cancel_futures
