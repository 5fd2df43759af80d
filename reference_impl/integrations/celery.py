"""Carry registered contextvars from ``apply_async`` into the celery task, on the snapshot.

Celery sends a task's arguments and nothing of the caller's context: a request
id set in a web handler is unset in the worker (docs/integrations/celery.md).
:class:`CeleryContext` makes a task base class that, in ``apply_async`` (still in
the caller's context), stores a signed snapshot of the registered vars under a
fresh id with a TTL and names it in a message header; in the worker,
``__call__`` runs the task body in a *new* Context restored from that snapshot,
so nothing a task sets survives into the next task on the same worker.  The
eager mode (``task_always_eager``) goes through the same two methods.

``app.send_task("name")`` bypasses the task class and so carries nothing.
Celery is imported only when :meth:`CeleryContext.task_base` is called.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from ctxprop_reference.snapshot import (
    JsonCodec,
    SnapshotSerializer,
    SnapshotStore,
    TaskSnapshots,
    VarRegistry,
)

__all__ = ["HEADER", "CeleryContext"]

#: the message header naming a task's snapshot record (an id, never the values)
HEADER: Final = "ctxprop_snapshot"


class CeleryContext:
    """What the submitting process and its workers agree on; build it the same in both.

    ``registry`` says which vars travel; ``store`` keeps one record per task with
    ``ttl`` seconds to live (a :class:`~ctxprop_reference.snapshot.RedisStore` on
    the broker's Redis serves every worker); ``signing_key`` (bytes, 32 random ones)
    signs every record, so a tampered one is rejected.  ``required=True`` makes a
    task whose snapshot is missing fail closed instead of running empty.
    """

    def __init__(
        self,
        registry: VarRegistry,
        store: SnapshotStore,
        *,
        signing_key: bytes | None = None,
        codec: JsonCodec | None = None,
        ttl: float = 3600.0,
        required: bool = False,
        key_prefix: str = "ctxprop:celery:snapshot:",
    ) -> None:
        serializer = SnapshotSerializer(registry, codec=codec, signing_key=signing_key)
        self._store = store
        self.snapshots = TaskSnapshots(serializer, store, ttl=ttl, key_prefix=key_prefix)
        self.required = required

    def capture(self, task_id: str, options: dict[str, Any]) -> None:
        """At submit, in the caller's context: store its snapshot, name it in ``headers``.

        The record's id is the task id plus a fresh suffix, so warnings name the task
        and a ``retry`` (same task id, the task's own context) gets a record of its own.
        """
        snapshot_id = f"{task_id}.{uuid.uuid4().hex[:12]}"
        self.snapshots.submit(snapshot_id)
        headers = dict(options.get("headers") or {})
        headers[HEADER] = snapshot_id
        options["headers"] = headers

    def run(self, request: Any, body: Any, /, *args: Any, **kwargs: Any) -> Any:
        """In the worker: run ``body`` in a new Context holding the task's snapshot."""
        snapshot_id = _snapshot_id(request)
        if snapshot_id is None:
            if not self.required:  # a direct call ``task(...)``, or a send_task by name
                return body(*args, **kwargs)
            snapshot_id = f"none-for-{getattr(request, 'id', None)}"  # fails closed below
        return self.snapshots.load(snapshot_id, required=self.required).run(body, *args, **kwargs)

    def discard(self, request: Any) -> None:
        """After the task's result is stored: its record is not needed any more."""
        snapshot_id = _snapshot_id(request)
        if snapshot_id is not None:
            self.snapshots.discard(snapshot_id)

    def task_base(self, base: type | None = None) -> type:
        """A celery ``Task`` subclass that carries the context: ``Celery(task_cls=...)``."""
        from celery import Task

        carrier = self
        parent: Any = base or Task

        class ContextTask(parent):  # type: ignore[misc, valid-type]
            """A task whose body runs in the submitter's registered context values."""

            def apply_async(
                self, args: Any = None, kwargs: Any = None, task_id: str | None = None,
                *rest: Any, **options: Any,
            ) -> Any:  # fmt: skip
                from celery.utils import uuid as new_task_id

                task_id = task_id or new_task_id()
                carrier.capture(task_id, options)
                return super().apply_async(args, kwargs, task_id, *rest, **options)

            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                return carrier.run(self.request, super().__call__, *args, **kwargs)

            def after_return(self, *args: Any, **kwargs: Any) -> None:
                carrier.discard(self.request)
                super().after_return(*args, **kwargs)

        return ContextTask

    def close(self) -> None:
        """Close the store, if it has connections of its own (``RedisStore.from_url``)."""
        close = getattr(self._store, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return f"<CeleryContext required={self.required} {self.snapshots._serializer!r}>"


def _snapshot_id(request: Any) -> str | None:
    """A worker's request has custom headers as attributes; an eager one under ``headers``."""
    found = getattr(request, HEADER, None)
    if found is None:
        headers = getattr(request, "headers", None)
        found = headers.get(HEADER) if isinstance(headers, dict) else None
    return found if isinstance(found, str) else None
