"""Correct building blocks the broken runtimes put their one bug into.

Each base here passes every applicable property on its own; a broken runtime
overrides one hook with the bug it models, so the diff to the base *is* the bug.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, ClassVar

from ctxprop_conformance.pools import started_thread_pool
from pytest_ctxprop.adapter import RuntimeAdapter, Traits, WorkerInit

Items = Iterable[tuple[contextvars.ContextVar[Any], Any]]


def context_with(items: Items) -> contextvars.Context:
    """A fresh context holding exactly ``items``."""

    def fill() -> contextvars.Context:
        for var, value in items:
            var.set(value)
        return contextvars.copy_context()

    return contextvars.Context().run(fill)


def jsonable(value: Any) -> bool:
    """Whether ``json.dumps`` accepts ``value`` (tuples count, as JSON arrays)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class PoolRuntime(RuntimeAdapter):
    """A thread pool that runs each task in the context captured at submit.

    ``capture`` runs in the caller at submit; ``run_task`` runs in a worker with
    what ``capture`` returned.  The pool's threads are created at ``start`` in
    the context the suite chooses, so tasks never see it unless a bug says so.
    """

    traits: ClassVar[Traits] = Traits(
        model="copy",
        reuses_workers=True,
        worker_ambient="tasks see only the caller's snapshot",
    )

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.worker_init = worker_init
        self.pool = started_thread_pool(workers, worker_init)

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.pool.submit(self.run_task, self.capture(fn, args), fn, args)

    def result(self, handle: Future[Any], timeout: float) -> Any:
        return handle.result(timeout)

    def capture(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """What travels with the task (called in the caller, at submit)."""
        return contextvars.copy_context()

    def run_task(self, captured: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Run the task in a worker thread, given what ``capture`` returned."""
        return captured.run(fn, *args)
