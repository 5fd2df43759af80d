"""The one fork server every ecosystem worker process is forked from, with one preload list.

multiprocessing has one fork server per process, and its preload list only
counts before the server first starts: whichever row starts it decides what
every later row's workers find imported, and a row whose library is missing
from that list imports it again in every worker of every check (in a session
of the matrix, dask's workers paid ``import distributed`` per worker when a
celery row came first).  So every row asks for the same server through
:func:`context`, with :data:`PRELOAD` covering all of them, and calls
:func:`warm` at construction, before any check's bound, so no ``start`` waits
for the server's imports.

The server is started by a fresh interpreter and is single threaded: a worker
forked from it never inherits the caller's threads or context.  Importing a
library sets no context variable and starts no thread (checked for every module
here); a module that does not import (a library not installed) is skipped by
the server.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # POSIX only, as the fork server
    from multiprocessing.context import ForkServerContext
    from multiprocessing.process import BaseProcess

__all__ = ["PRELOAD", "Warmup", "context", "warm"]

#: what the workers of every row import, loaded once in the fork server
PRELOAD: tuple[str, ...] = (
    "__main__",  # multiprocessing's own default: the main module once, not per worker
    "json", "redis",
    "ctxprop_conformance.probes", "ctxprop_conformance.probe_vars",
    "ctxprop_reference.snapshot", "ctxprop_reference.process_pool",
    "ctxprop_reference.redis_queue_worker",
    # celery: what app.Worker(...).start() imports
    "celery.apps.worker", "celery.worker.components", "celery.worker.consumer",
    "celery.worker.autoscale", "celery.worker.control", "celery.worker.pidbox",
    "celery.worker.strategy", "celery.worker.loops", "celery.worker.request",
    "celery.events.dispatcher", "celery.events.receiver", "celery.app.control", "celery.app.log",
    "celery.app.trace", "celery.concurrency.prefork", "celery.concurrency.asynpool",
    "billiard.pool", "billiard.popen_fork", "billiard.sharedctypes", "billiard.synchronize",
    "kombu.pidbox", "kombu.mixins", "kombu.transport.redis", "celery.backends.redis",
    "celery.app.events", "celery.worker.consumer.delayed_delivery", "celery.fixups.django",
    "ctxprop_conformance.ecosystem._celery_app", "ctxprop_reference.integrations.celery",
    # rq
    "rq", "rq.worker", "rq.job", "rq.queue", "rq.command", "rq.results", "_strptime",
    "ctxprop_conformance.ecosystem._rq_worker", "ctxprop_reference.integrations.rq",
    # dramatiq, taskiq, arq (their worker's serve() lives in the row's module)
    "dramatiq", "dramatiq.brokers.redis", "dramatiq.results", "dramatiq.results.backends.redis",
    "ctxprop_conformance.ecosystem.dramatiq_runtimes", "ctxprop_reference.integrations.dramatiq",
    # anyio: what taskiq's receiver and arq import at their first message (~0.3 s)
    "anyio", "anyio._backends._asyncio",
    "taskiq", "taskiq_redis", "taskiq.api.receiver",
    "ctxprop_conformance.ecosystem.taskiq_runtimes", "ctxprop_reference.integrations.taskiq",
    "arq", "arq.worker",
    "ctxprop_conformance.ecosystem.arq_runtimes", "ctxprop_reference.integrations.arq",
    # docket
    "docket", "ctxprop_conformance.ecosystem.docket_worker",
    "ctxprop_reference.integrations.docket",
    # dask: distributed's own forkserver preload (distributed.utils.get_mp_context)
    "distributed", "distributed.nanny", "distributed.worker",
    "ctxprop_conformance.ecosystem.dask_runtimes", "ctxprop_reference.integrations.dask",
    # last: leaves all of the above out of the workers' garbage collections
    "ctxprop_conformance.ecosystem.fork_server_freeze",
)  # fmt: skip
#: how long the first warm-up may take: the server imports every library above
WARM_TIMEOUT = 120.0
_lock = threading.Lock()
_preload_set = False


def context() -> ForkServerContext:
    """The ``forkserver`` context, its preload set to :data:`PRELOAD` once per process.

    Set before the server first starts (by :func:`warm` or the first worker), so
    the list is the same whichever row comes first.
    """
    global _preload_set
    mp = multiprocessing.get_context("forkserver")
    with _lock:
        if not _preload_set:
            mp.set_forkserver_preload(list(PRELOAD))
            _preload_set = True
    return mp


class Warmup:
    """Start a fork server and wait until its imports are done; once per process.

    Called when an adapter is constructed, outside every check's bound: the
    first worker would otherwise spend its ``start`` bound waiting for the
    server's imports, which on a loaded machine can exceed it (a false ``error``).
    A no-op child is the proof: the server forks only once it has imported all.
    ``process`` makes that child's process from the server to warm (a row with
    a fork server of its own, like wool's, passes its own process class).
    """

    def __init__(self, process: Callable[..., BaseProcess]) -> None:
        self._process = process
        self._lock = threading.Lock()  # held through the warm-up: a second caller waits
        self._warmed = False

    def __call__(self, timeout: float = WARM_TIMEOUT) -> None:
        with self._lock:
            if self._warmed:
                return
            child = self._process(target=_no_op, name="ctxprop-fork-server-warm", daemon=True)
            child.start()
            child.join(timeout)
            if child.exitcode is None:  # a server that slow: the rows' own bounds will tell
                child.kill()
                child.join()
            self._warmed = True


def _no_op() -> None:
    """The warm-up child: that it was forked proves the server finished its imports."""


#: warms the one fork server of :func:`context`
warm = Warmup(lambda **kwargs: context().Process(**kwargs))
