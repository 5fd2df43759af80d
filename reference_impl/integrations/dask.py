"""Carry registered contextvars into dask.distributed tasks: a submit wrapper with a snapshot.

distributed runs a task in its worker's own context (a copy of the worker
event loop's context for thread executors; nothing at all crosses to a worker
process).  :meth:`DaskContext.submit` captures the registered vars with
``ctxprop_reference.snapshot`` at submit, in the caller's context, ships the
JSON record inside the task, and the worker runs the function in a fresh
Context restored from it, so a reused worker never serves the previous task's
values.  distributed is imported lazily (only ``client.submit`` is called).

The record travels in dask's own task message, which dask already trusts
(a client sends pickled functions); nothing is stored apart from the task and
the record is JSON, never unpickled.
"""

from __future__ import annotations

import contextvars
import importlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

from ctxprop_reference.snapshot import JsonCodec, SnapshotSerializer, VarRegistry, VarSpec

__all__ = ["DaskContext", "run_in_snapshot"]

#: a worker process's serializers, by the wire description that built them
_SERIALIZERS: dict[tuple[Any, ...], SnapshotSerializer] = {}
_LOCK = threading.Lock()
_MISSING: Any = object()


class DaskContext:
    """``DaskContext(registry).submit(client, fn, *args)``: ``client.submit`` carrying the vars.

    ``codec`` is the ``module:attribute`` path of a function returning the
    :class:`JsonCodec` to use (for registered dataclasses); workers import it.
    """

    def __init__(self, registry: VarRegistry, *, codec: str | None = None) -> None:
        self.registry = registry
        self.codec = codec
        self.serializer = SnapshotSerializer(registry, codec=_codec(codec))
        self.wire: tuple[Any, ...] = (
            tuple((s.var_id, s.path, s.secret) for s in registry.specs()),
            codec,
        )

    def __repr__(self) -> str:
        return f"DaskContext({self.registry!r})"

    @classmethod
    def from_wire(cls, wire: Any) -> DaskContext:
        """The same DaskContext in another process, from ``self.wire`` (trusted input only)."""
        specs, codec = _freeze(wire)
        return cls(VarRegistry.from_specs([VarSpec(*spec) for spec in specs]), codec=codec)

    def submit(self, client: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``client.submit(fn, *args, **kwargs)``; the snapshot is taken now (F2).

        ``pure=False`` unless given: a task that reads context is not a pure function,
        and dask would otherwise reuse an earlier result for equal arguments.
        """
        task_id = uuid.uuid4().hex
        record = self.serializer.dumps(task_id)  # S2: an error naming the var, at submit
        kwargs.setdefault("pure", False)
        return client.submit(run_in_snapshot, self.wire, task_id, record, fn, *args, **kwargs)


def _codec(path: str | None) -> JsonCodec | None:
    if path is None:
        return None
    module, _, attribute = path.partition(":")
    codec = getattr(importlib.import_module(module), attribute)()
    if not isinstance(codec, JsonCodec):
        raise TypeError(f"{path} did not return a JsonCodec")
    return codec


def _freeze(wire: Any) -> tuple[Any, ...]:
    """``wire`` as hashable tuples (it may have crossed as JSON lists)."""
    specs, codec = wire
    return (tuple((str(i), p, bool(s)) for i, p, s in specs), codec)


def _serializer(wire: tuple[Any, ...]) -> SnapshotSerializer:
    wire = _freeze(wire)
    with _LOCK:
        found = _SERIALIZERS.get(wire)
        if found is None:
            specs, codec = wire
            registry = VarRegistry.from_specs([VarSpec(*spec) for spec in specs])
            found = _SERIALIZERS[wire] = SnapshotSerializer(registry, codec=_codec(codec))
        return found


def run_in_snapshot(
    wire: tuple[Any, ...], task_id: str, record: bytes, fn: Callable[..., Any], /, *args: Any
) -> Any:
    """The task dask runs: ``fn(*args)`` in a fresh Context holding the record's vars.

    distributed's own task ambient (what ``get_worker()`` and ``get_client()``
    read) is set again in that Context: it is the worker's, not the caller's.
    """
    context = _serializer(wire).loads(task_id, record).restore()
    for var in _distributed_vars():
        value = var.get(_MISSING)
        if value is not _MISSING:
            context.run(var.set, value)
    return context.run(fn, *args)


def _distributed_vars() -> list[contextvars.ContextVar[Any]]:
    """distributed's per-task vars (private names, so looked up defensively)."""
    found = []
    for module, name in (
        ("distributed.worker", "_worker_cvar"),
        ("distributed.client", "_current_client"),
    ):
        var = getattr(importlib.import_module(module), name, None)
        if isinstance(var, contextvars.ContextVar):
            found.append(var)
    return found
