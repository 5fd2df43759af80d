"""Carry registered contextvars from ``Queue.enqueue`` into the rq job, on the snapshot.

rq pickles a job's function and arguments and nothing of the caller's context:
a request id set in a web handler is unset in the worker (docs/integrations/rq.md).
:class:`RqContext` makes a ``Queue`` subclass whose ``create_job`` (still in the
caller's context) stores a signed snapshot of the registered vars with a TTL, in
the job's own Redis, and names it in ``job.meta``; and a ``Job`` subclass whose
``perform`` runs the job in a *new* Context restored from it, so nothing a job
sets reaches the next job of a ``SimpleWorker`` (or of a forking ``Worker``).

rq is imported only when :meth:`RqContext.queue_class` or :meth:`RqContext.job_class`
is called.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from ctxprop_reference.snapshot import (
    JsonCodec,
    RedisStore,
    SnapshotSerializer,
    SnapshotStore,
    TaskSnapshots,
    VarRegistry,
)

__all__ = ["META_KEY", "RqContext"]

#: the ``job.meta`` entry naming a job's snapshot record (an id, never the values)
META_KEY: Final = "ctxprop_snapshot"


class RqContext:
    """What the enqueueing process and its workers agree on; build it the same in both.

    ``registry`` says which vars travel; records live ``ttl`` seconds under
    ``key_prefix`` in ``store`` (default: the Redis of the job's own connection);
    ``signing_key`` (bytes, 32 random ones) signs every record, so a tampered one is
    rejected; with ``required=True`` a job without its snapshot fails closed instead
    of running empty.
    """

    def __init__(
        self,
        registry: VarRegistry,
        *,
        store: SnapshotStore | None = None,
        signing_key: bytes | None = None,
        codec: JsonCodec | None = None,
        ttl: float = 3600.0,
        required: bool = False,
        key_prefix: str = "ctxprop:rq:snapshot:",
    ) -> None:
        self.serializer = SnapshotSerializer(registry, codec=codec, signing_key=signing_key)
        self.ttl, self.required, self.key_prefix = ttl, required, key_prefix
        self.store = store

    def snapshots(self, connection: Any) -> TaskSnapshots:
        """The records in ``store``, or else in ``connection``'s Redis (the job's own)."""
        store = self.store if self.store is not None else RedisStore(connection)
        return TaskSnapshots(self.serializer, store, ttl=self.ttl, key_prefix=self.key_prefix)

    def capture(self, job: Any) -> None:
        """At enqueue, in the caller's context: store its snapshot, name it in ``job.meta``."""
        snapshot_id = f"{job.id}.{uuid.uuid4().hex[:12]}"  # warnings name the job
        self.snapshots(job.connection).submit(snapshot_id)
        job.meta[META_KEY] = snapshot_id

    def perform(self, job: Any, body: Any) -> Any:
        """In the worker: run ``body()`` in a new Context holding the job's snapshot."""
        snapshot_id = job.meta.get(META_KEY)
        if not isinstance(snapshot_id, str):
            if not self.required:  # a job enqueued without this queue class
                return body()
            snapshot_id = f"none-for-{job.id}"  # fails closed below
        snapshots = self.snapshots(job.connection)
        value = snapshots.load(snapshot_id, required=self.required).run(body)
        snapshots.discard(snapshot_id)  # a failed job keeps it for a retry; the TTL ends it
        return value

    def queue_class(self, base: type | None = None) -> type:
        """An rq ``Queue`` subclass that captures at enqueue and makes :meth:`job_class` jobs."""
        from rq import Queue

        carrier, job_class = self, self.job_class()
        parent: Any = base or Queue

        class ContextQueue(parent):  # type: ignore[misc, valid-type]
            """A queue whose jobs carry the enqueuer's registered context values."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs.setdefault("job_class", job_class)
                super().__init__(*args, **kwargs)

            def create_job(self, *args: Any, **kwargs: Any) -> Any:
                # at creation, in the caller: a job deferred on a dependency is enqueued
                # later by a worker, whose context is not the caller's
                job = super().create_job(*args, **kwargs)
                carrier.capture(job)
                return job

            def enqueue_job(self, job: Any, *args: Any, **kwargs: Any) -> Any:
                if META_KEY not in job.meta:  # a job made with Job.create directly
                    carrier.capture(job)
                return super().enqueue_job(job, *args, **kwargs)

        return ContextQueue

    def job_class(self, base: type | None = None) -> type:
        """An rq ``Job`` subclass performing in the restored Context: ``Worker(job_class=...)``."""
        from rq.job import Job

        carrier = self
        parent: Any = base or Job

        class ContextJob(parent):  # type: ignore[misc, valid-type]
            """A job that runs in its enqueuer's registered context values."""

            def perform(self) -> Any:
                return carrier.perform(self, super().perform)

        return ContextJob

    def __repr__(self) -> str:
        return f"<RqContext required={self.required} {self.serializer!r}>"
