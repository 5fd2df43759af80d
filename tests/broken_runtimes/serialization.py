"""Broken runtimes for SPEC section S (serialization), one bug each.

The base, :class:`StoredSnapshotPool`, is a correct snapshot runtime: at submit
it stores a signed JSON snapshot record of the registered vars under the task's
id (``ctxprop_reference.snapshot``), and a worker loads it back by that id into
a fresh Context.  Its store is in-process and its workers are threads, so checks
stay fast; everything that travels is serialized all the same.  Each subclass
adds one realistic bug; the diff to the base is the bug.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import decimal
import pickle
import threading
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar

from ctxprop_conformance.pools import started_thread_pool
from ctxprop_reference import snapshot_envelope as _envelope
from ctxprop_reference.snapshot import (
    MemoryStore,
    SnapshotSerializer,
    TaskSnapshots,
    VarRegistry,
)
from ctxprop_reference.snapshot_codec import JsonCodec
from pytest_ctxprop.adapter import RuntimeAdapter, SnapshotAccess, Traits, WorkerInit

_KEY = b"ctxprop-tests-signing-key-0123456789"
#: warnings machinery is process-wide: one worker at a time records what it warned
_WARNINGS = threading.Lock()


def _codec() -> JsonCodec:
    from ctxprop_conformance import probes

    codec = JsonCodec()
    codec.register_dataclass(probes.Record, "ctxprop:Record")
    codec.register_dataclass(probes.Dependency, "ctxprop:Dependency")
    return codec


class _Access(SnapshotAccess):
    def __init__(self, runtime: StoredSnapshotPool) -> None:
        self._runtime = runtime

    def corrupt_next(self, fault: str, payload: bytes | None = None) -> None:  # type: ignore[override]
        self._runtime.fault = (fault, payload)

    def warnings(self) -> list[str]:
        return list(self._runtime.worker_warnings)


class StoredSnapshotPool(RuntimeAdapter):
    """A correct runtime that stores one signed snapshot record per task (the base)."""

    traits: ClassVar[Traits] = Traits(
        model="copy",
        crosses_process=True,
        reuses_workers=True,
        vars_travel="registered",
        worker_ambient="tasks see only their snapshot",
    )

    def __init__(self) -> None:
        self.registry = VarRegistry()
        self.clock_offset = 0.0
        self.store = MemoryStore(clock=self._now)
        self.fault: tuple[str, bytes | None] | None = None
        self.worker_warnings: list[str] = []

    def _now(self) -> float:
        import time

        return time.monotonic() + self.clock_offset

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        self.registry.register_importable(var.name)

    def serializer(self) -> SnapshotSerializer:
        return SnapshotSerializer(self.registry, codec=_codec(), signing_key=_KEY)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.snapshots = TaskSnapshots(self.serializer(), self.store, ttl=60)
        self.pool = started_thread_pool(workers, worker_init)

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def snapshot_access(self) -> SnapshotAccess:
        return _Access(self)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        task_id = uuid.uuid4().hex
        self.snapshots.submit(task_id, self.capture())
        if self.fault is not None:
            self._spoil(task_id, *self.fault)
            self.fault = None
        return self.pool.submit(self.run_task, task_id, fn, args)

    def result(self, handle: Future[Any], timeout: float) -> Any:
        return handle.result(timeout)

    def capture(self) -> contextvars.Context:
        """The context whose registered vars are stored (called in the caller, at submit)."""
        return contextvars.copy_context()

    def load(self, task_id: str) -> contextvars.Context:
        """The task's context, from its stored record (called in a worker)."""
        return self.snapshots.restore(task_id)

    def run_task(self, task_id: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        with _WARNINGS, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                context = self.load(task_id)
            finally:
                self.worker_warnings += [str(w.message) for w in caught]
        return context.run(fn, *args)

    def _spoil(self, task_id: str, fault: str, payload: bytes | None) -> None:
        key = self.snapshots.key(task_id)
        record = self.store.get(key) or b""
        self.store.delete(key)
        if fault == "expired":
            self.store.add(key, record, 1)
            self.clock_offset += 1.0  # its TTL has passed
        elif fault == "malformed":  # our own format, correctly signed, a body that is no JSON
            self.store.add(key, _envelope.build("json", task_id, b'{"V": ', _KEY), 60_000)
        elif fault == "tampered":  # one byte of the body changed after signing
            last = len(record.rstrip(b"\n")) - 1
            self.store.add(
                key, record[:last] + bytes([record[last] ^ 1]) + record[last + 1 :], 60_000
            )
        elif fault == "foreign":
            self.store.add(key, payload or b"", 60_000)


_STRINGIFIED = (datetime.datetime, datetime.date, datetime.timedelta, decimal.Decimal, uuid.UUID)


class StringifiesUnknownTypes(StoredSnapshotPool):
    """S1: values of types the wire format "does not know" are sent as ``str(value)``.

    The classic ``json.dumps(..., default=str)``: datetimes, Decimals and UUIDs
    arrive as strings.  F4's types are all known, so only S1 sees it.
    """

    def capture(self) -> contextvars.Context:
        def stringified() -> contextvars.Context:
            for var, value in list(contextvars.copy_context().items()):
                if isinstance(value, _STRINGIFIED):
                    var.set(str(value))
            return contextvars.copy_context()

        return contextvars.copy_context().run(stringified)


class DropsUnserializableSilently(StoredSnapshotPool):
    """S2: a value the codec cannot carry is left out, and nobody is told.

    Lenient mode with its warning filtered away ("too noisy in production").
    """

    def serializer(self) -> SnapshotSerializer:
        serializer = SnapshotSerializer(
            self.registry, codec=_codec(), signing_key=_KEY, lenient=True
        )
        dumps = serializer.dumps

        def quiet_dumps(task_id: str, context: contextvars.Context | None = None) -> bytes:
            with _WARNINGS, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return dumps(task_id, context)

        serializer.dumps = quiet_dumps  # type: ignore[method-assign]
        return serializer


class CrashesOnMissingSnapshot(StoredSnapshotPool):
    """S3: the worker reads the record with ``store[key]``: a missing snapshot kills the task."""

    def load(self, task_id: str) -> contextvars.Context:
        record = self.store.get(self.snapshots.key(task_id))
        if record is None:
            raise KeyError(f"no snapshot stored for task {task_id}")
        return super().load(task_id)


class UnpicklesWhatItFinds(StoredSnapshotPool):
    """S4: a record that is not in the current format is read as a legacy pickle.

    "Old workers wrote pickles": the fallback unpickles whatever the store holds.
    """

    def load(self, task_id: str) -> contextvars.Context:
        record = self.store.get(self.snapshots.key(task_id)) or b""
        if record and not record.startswith(b"ctxprop"):
            legacy = pickle.loads(record)  # the bug: unpickling untrusted bytes
            return contextvars.Context().run(
                lambda: (dict(legacy or {}), contextvars.copy_context())[1]
            )
        return super().load(task_id)


class ShipsDefaults(StoredSnapshotPool):
    """S5: every registered var is captured with ``var.get(default)``, defaults included."""

    def capture(self) -> contextvars.Context:
        def with_defaults() -> contextvars.Context:
            for var_id in self.registry:
                var = self.registry.var(var_id)
                with contextlib.suppress(LookupError):
                    var.set(var.get())  # a var only at its default becomes set
            return contextvars.copy_context()

        return contextvars.copy_context().run(with_defaults)


class SkipsVarsItCannotImport(StoredSnapshotPool):
    """S6: a var without an import path is skipped at registration, silently."""

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        with contextlib.suppress(ValueError):  # the bug: "not importable, never mind"
            super().register(var)
