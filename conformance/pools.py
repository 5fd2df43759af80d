"""Starting thread pools completely before anything is measured."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable


def warm_thread_pool(pool: concurrent.futures.ThreadPoolExecutor, workers: int) -> None:
    """Create all ``workers`` threads now, in the current context.

    Each warm-up task waits at a barrier for the others, so no thread is idle
    while the next is submitted and the executor must start a new one.  Under
    ``thread_inherit_context`` the threads inherit the current context: the
    suite chooses it (empty, or V=c for F7), never the first caller.
    """
    barrier = threading.Barrier(workers)
    futures = [pool.submit(barrier.wait, 30) for _ in range(workers)]
    for future in futures:
        future.result(60)


def started_thread_pool(
    workers: int,
    worker_init: Callable[[], None] | None = None,
    executor: type[concurrent.futures.ThreadPoolExecutor] = concurrent.futures.ThreadPoolExecutor,
) -> concurrent.futures.ThreadPoolExecutor:
    """A pool of ``executor`` with all ``workers`` threads already created."""
    pool = executor(workers, initializer=worker_init)
    warm_thread_pool(pool, workers)
    return pool
