"""taskiq: carry registered contextvars from ``kiq()`` to the task, one fresh Context per message.

A taskiq worker runs each message in its own asyncio task, a copy of the
listening task's context, so a caller's values never arrive and the worker's
own values (set at startup) are there instead.  :class:`ContextMiddleware`
snapshots the registered vars into the message's labels in ``pre_send`` (in
the caller's task: capture at send); on the worker, ``pre_execute`` checks the
message's snapshot and the task function then runs in a *new* Context restored
from it alone.  A refused snapshot fails the task with :class:`SnapshotRefusedError`,
stored as its result, so the caller gets an error instead of a timeout.
Built on :mod:`ctxprop_reference.snapshot`; docs/integrations/taskiq.md.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any

from ctxprop_reference.aio import create_task_in
from ctxprop_reference.snapshot import SnapshotError, SnapshotSerializer

__all__ = ["LABEL", "ContextMiddleware", "SnapshotRefusedError"]

#: the message label holding the snapshot record (base64 of the signed record)
LABEL = "ctxprop_snapshot"
_WRAPPED = "__ctxprop_taskiq__"

#: set by ``pre_execute`` in the message's own asyncio task, read by the wrapped function
_pending: contextvars.ContextVar[contextvars.Context | BaseException | None] = (
    contextvars.ContextVar("ctxprop_taskiq_pending", default=None)
)


class SnapshotRefusedError(RuntimeError):
    """The worker refused the task's snapshot (S3 required, S4, S6): the function did not run.

    One positional argument, the snapshot library's message (task id and reason,
    never a value), so taskiq's result backends rebuild it on the caller's side.
    """


def ContextMiddleware(serializer: SnapshotSerializer, *, required: bool = False) -> Any:
    """A ``TaskiqMiddleware`` (taskiq imported on first use); add it on both sides.

    ``serializer`` must be built alike by senders and workers (same registry
    specs, codec and signing key).  ``required=True`` refuses to run a message
    without a valid snapshot (S3).
    """
    return _middleware_class()(serializer, required)


def _decode(label: Any) -> bytes | None:
    """The record of a label; a malformed label is passed on as bytes for the checks to reject."""
    if label is None:
        return None
    if not isinstance(label, str):
        return b"malformed label"
    try:
        return base64.b64decode(label.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return b"malformed label"


def _take() -> contextvars.Context | None:
    """This message's restored Context (None: a direct call), or raise why it was refused."""
    pending = _pending.get()
    if isinstance(pending, BaseException):
        raise pending
    return pending


def _in_snapshot(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run in the Context ``pre_execute`` restored; unchanged for a direct call."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            context = _take()
            if context is None:
                return await fn(*args, **kwargs)
            # a task of its own in the fresh Context: the worker's values never show through
            return await create_task_in(context, fn(*args, **kwargs))

        wrapper: Callable[..., Any] = run_async
    else:

        @functools.wraps(fn)
        def run_sync(*args: Any, **kwargs: Any) -> Any:
            context = _take()  # taskiq copies the message task's context into the thread
            return fn(*args, **kwargs) if context is None else context.run(fn, *args, **kwargs)

        wrapper = run_sync
    setattr(wrapper, _WRAPPED, True)
    return wrapper


@functools.cache
def _middleware_class() -> type[Any]:
    """Built on first use, so importing this module does not import taskiq."""
    from taskiq import TaskiqMiddleware

    class _ContextMiddleware(TaskiqMiddleware):  # type: ignore[misc]
        """Snapshot in ``pre_send``; run each message's function in its own snapshot's Context."""

        def __init__(self, serializer: SnapshotSerializer, required: bool) -> None:
            super().__init__()
            self._serializer = serializer
            self._required = required

        def __repr__(self) -> str:  # the serializer's repr holds var ids only
            return f"<ContextMiddleware {self._serializer!r} required={self._required}>"

        def pre_send(self, message: Any) -> Any:
            record = self._serializer.dumps(message.task_id)  # S2: raises to the caller of kiq()
            message.labels[LABEL] = base64.b64encode(record).decode("ascii")
            return message

        def pre_execute(self, message: Any) -> Any:
            # taskiq reads task.original_func after pre_execute, in this same asyncio task
            task = self.broker.find_task(message.task_name)
            if task is not None and not getattr(task.original_func, _WRAPPED, False):
                task.original_func = _in_snapshot(task.original_func)
            record = _decode(message.labels.get(LABEL))
            try:
                snapshot = self._serializer.loads(message.task_id, record, required=self._required)
            except SnapshotError as exc:
                # raising here would escape taskiq's callback: no result, the caller times out
                refused = SnapshotRefusedError(str(exc))
                refused.__cause__ = exc  # for the worker's own log; not sent to the caller
                _pending.set(refused)
                return message
            _pending.set(snapshot.restore())
            return message

    return _ContextMiddleware
