"""What code inside a task of the Redis queue can reach: its task id, its values, its queue.

A task runs in a Context restored from its own snapshot, so plain code it calls
reads ``var.get()`` and finds the task's values (F5).  :func:`task_value` also
serves code that runs outside that Context (a thread the task started without
copying it): keyed by task id first, then the task's snapshot as loaded.
:func:`nested_runner` is how a task submits to its own queue again (F6).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, Final

from ctxprop_reference.redis_queue import QueueConfig, RedisTaskQueue, qualified_name
from ctxprop_reference.snapshot import Snapshot, SnapshotSerializer

__all__ = ["current_task_id", "nested_runner", "task_value"]

_MISSING: Final[Any] = object()
#: the id of the task whose restored Context this is (set in every task's Context)
_TASK_ID: contextvars.ContextVar[str] = contextvars.ContextVar(
    "ctxprop_reference.redis_queue_context:task_id"
)
#: this process's worker: (config, serializer, worker id), once it serves
_worker: tuple[QueueConfig, SnapshotSerializer, str] | None = None
#: the running task: (task id, the Context restored from its snapshot, untouched)
_running: tuple[str, contextvars.Context] | None = None
_nested: dict[str, RedisTaskQueue] = {}


def bind(config: QueueConfig, serializer: SnapshotSerializer, worker_id: str) -> None:
    """Called by the worker as it starts serving."""
    global _worker
    _worker = (config, serializer, worker_id)


def task_context(snapshot: Snapshot, task_id: str) -> contextvars.Context:
    """A fresh Context holding the snapshot's vars and the task's id."""
    context = snapshot.restore()
    context.run(_TASK_ID.set, task_id)
    return context


def begin(task_id: str, pristine: contextvars.Context) -> None:
    global _running
    _running = (task_id, pristine)


def end() -> None:
    global _running
    _running = None


def current_task_id() -> str | None:
    """The id of the task whose Context is current (None outside a task)."""
    return _TASK_ID.get(None)


def task_value(var: contextvars.ContextVar[Any], default: Any = _MISSING) -> Any:
    """F5 for sync helpers: the running task's value of ``var``, found without parameters.

    The current Context first, if it is the running task's (keyed by task id, so
    a reused worker never serves the previous task's); otherwise the task's
    snapshot as loaded from the store.  LookupError (or ``default``) when the
    task has no value.
    """
    running = _running
    if running is not None and _TASK_ID.get(None) != running[0]:
        value = running[1].get(var, _MISSING)
    else:
        value = var.get(_MISSING)
    if value is not _MISSING:
        return value
    if default is not _MISSING:
        return default
    raise LookupError(var)


class _NestedRunner:
    """Submits to the queue of the worker it runs in, and waits (F6)."""

    def __init__(self, queue: RedisTaskQueue, dispatch: str, timeout: float) -> None:
        self._queue, self._dispatch, self._timeout = queue, dispatch, timeout

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        handle = self._queue.submit(self._dispatch, qualified_name(fn), *args)
        return self._queue.result(handle, self._timeout)


def nested_runner(dispatch: str, timeout: float = 10.0) -> _NestedRunner:
    """The runner a task gets to reach its own queue again: ``dispatch(fn_name, *args)``.

    ``dispatch`` is a registered task that takes a function's name first (the
    suite's ``run_probe``); the nested task's snapshot is taken from the
    submitting task's Context, as for any submit.
    """
    worker = _worker
    if worker is None:
        raise RuntimeError("nested_runner() is for tasks running on a queue worker")
    config, serializer, worker_id = worker
    queue = _nested.get(worker_id)
    if queue is None:
        queue = _nested[worker_id] = RedisTaskQueue(config, serializer=serializer)
    return _NestedRunner(queue, dispatch, timeout)
