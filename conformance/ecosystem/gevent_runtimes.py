"""gevent: ``gevent.spawn(fn, *args)`` greenlets, without monkey-patching.

gevent (with greenlet >= 1.0) gives each greenlet its own contextvars
Context; what a spawned greenlet starts with is what this row measures.
Greenlets run when the caller yields to the hub, here in ``get()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance.ecosystem import require
from pytest_ctxprop.adapter import Capabilities, RuntimeAdapter, Traits, WorkerInit


class GeventSpawn(RuntimeAdapter):
    """``gevent.spawn(fn, *args)`` then ``greenlet.get(timeout=...)``."""

    traits: ClassVar[Traits] = Traits(model="copy", worker_ambient="no workers")
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)

    def __init__(self) -> None:
        self.gevent = require("gevent", "ecosystem")

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        pass

    def stop(self) -> None:
        pass

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.gevent.spawn(fn, *args)

    def result(self, handle: Any, timeout: float) -> Any:
        try:
            return handle.get(timeout=timeout)
        except self.gevent.Timeout:
            raise TimeoutError(f"greenlet still running after {timeout}s") from None

    # no cancel(): without monkey-patching, a greenlet blocked in a real socket wait
    # never yields to the hub, so ``kill`` cannot reach it mid-run (I5 is n/a)
