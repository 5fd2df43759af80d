"""arq: carry registered contextvars from ``enqueue_job`` to the job, one fresh Context per job.

An arq worker runs each job in its own asyncio task, a copy of the worker's
main task's context, so a caller's values never arrive and the worker's own
values (set in ``on_startup``) are there instead.  :func:`enqueue_job`
snapshots the registered vars into one keyword argument of the job (in the
caller's task: capture at enqueue); :func:`with_context` wraps a job function
so that it runs in a *new* Context restored from that snapshot alone.  A
refused snapshot fails the job with :class:`SnapshotRefusedError`, which arq
pickles as the job's result, so ``job.result()`` raises it (arq could not
unpickle the snapshot library's own error types).  docs/integrations/arq.md.
"""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ctxprop_reference.aio import create_task_in
from ctxprop_reference.snapshot import SnapshotError, SnapshotSerializer

__all__ = ["KWARG", "SnapshotRefusedError", "enqueue_job", "with_context"]

#: the job keyword argument holding the snapshot record (base64 of the signed record)
KWARG = "ctxprop_snapshot"


class SnapshotRefusedError(RuntimeError):
    """The worker refused the job's snapshot (S3 required, S4, S6): the function did not run.

    One positional argument, the snapshot library's message (job id and reason,
    never a value), so it unpickles in the caller's ``job.result()``.
    """


async def enqueue_job(
    redis: Any, serializer: SnapshotSerializer, function: str, *args: Any,
    _job_id: str | None = None, **kwargs: Any,
) -> Any:  # fmt: skip
    """``redis.enqueue_job(function, *args, ...)`` with the caller's snapshot as :data:`KWARG`.

    The job id is chosen here (arq's own ``_job_id``) because the record is bound
    to it: a worker rejects another job's record (S4).  Returns arq's ``Job``, or
    ``None`` when a job with that id exists already (arq's rule).
    """
    job_id = _job_id or uuid.uuid4().hex
    record = serializer.dumps(job_id)  # S2: raises here, naming the var
    kwargs[KWARG] = base64.b64encode(record).decode("ascii")
    return await redis.enqueue_job(function, *args, _job_id=job_id, **kwargs)


def with_context(
    serializer: SnapshotSerializer, fn: Callable[..., Awaitable[Any]], *, required: bool = False
) -> Callable[..., Awaitable[Any]]:
    """Wrap an arq job function ``fn(ctx, *args, **kwargs)``; register the wrapper with the worker.

    ``required=True`` fails a job without a valid snapshot instead of running it
    with only its defaults (S3).
    """

    @functools.wraps(fn)
    async def job(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        record = _decode(kwargs.pop(KWARG, None))
        try:
            snapshot = serializer.loads(ctx["job_id"], record, required=required)
        except SnapshotError as exc:
            raise SnapshotRefusedError(str(exc)) from exc
        # a task of its own in a fresh Context: the worker's values never show through
        return await create_task_in(snapshot.restore(), fn(ctx, *args, **kwargs))

    return job


def _decode(value: Any) -> bytes | None:
    """The record in the argument; a malformed one goes on as bytes for the checks to reject."""
    if value is None:
        return None
    if not isinstance(value, str):
        return b"malformed argument"
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return b"malformed argument"
