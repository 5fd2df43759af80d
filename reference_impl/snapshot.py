"""Context snapshots that cross processes: capture at submit, restore in a fresh Context.

The pieces (docs/cross-process.md explains each with examples):

* :class:`VarRegistry`: which vars travel, under stable ``namespace:name`` ids;
* :class:`JsonCodec` (default) or :class:`CloudpickleCodec` (opt in, needs a key);
* :class:`SnapshotSerializer`: ``dumps(task_id)`` -> record bytes and
  ``loads(task_id, record)`` -> :class:`Snapshot`, with every fault rule (S2-S6);
* :class:`SnapshotStore` (:class:`MemoryStore`, :class:`RedisStore`) and
  :class:`TaskSnapshots`: one record per task, with a TTL, in a store;
* :class:`Snapshot`: the values for one task; ``restore()`` gives a *new*
  Context holding only them, ``run(fn, ...)`` runs ``fn`` in one.

No message, warning or repr made here holds a var's value; a var registered
``secret=True`` does not even get its encoder's error text repeated.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Final, NoReturn, TypeVar

from ctxprop_reference import snapshot_envelope as _envelope
from ctxprop_reference.snapshot_capture import Snapshot, _capture
from ctxprop_reference.snapshot_codec import CloudpickleCodec, JsonCodec, _MalformedBody
from ctxprop_reference.snapshot_envelope import FORMAT_VERSION, READ_VERSIONS
from ctxprop_reference.snapshot_errors import (
    DuplicateVarIdError,
    SnapshotError,
    SnapshotRejectedError,
    SnapshotTooLargeError,
    SnapshotUnavailableError,
    SnapshotValueError,
    SnapshotVersionError,
    SnapshotWarning,
    UnknownVarError,
)
from ctxprop_reference.snapshot_registry import VarRegistry, VarSpec
from ctxprop_reference.snapshot_store import MemoryStore, RedisStore, SnapshotStore

__all__ = [
    "FORMAT_VERSION",
    "READ_VERSIONS",
    "CloudpickleCodec",
    "DuplicateVarIdError",
    "JsonCodec",
    "MemoryStore",
    "RedisStore",
    "Snapshot",
    "SnapshotError",
    "SnapshotRejectedError",
    "SnapshotSerializer",
    "SnapshotStore",
    "SnapshotTooLargeError",
    "SnapshotUnavailableError",
    "SnapshotValueError",
    "SnapshotVersionError",
    "SnapshotWarning",
    "TaskSnapshots",
    "UnknownVarError",
    "VarRegistry",
    "VarSpec",
]

_T = TypeVar("_T")
_MIN_KEY_BYTES: Final = 16
_JSON_HEAD: Final = b"ctxprop-snapshot/%d json " % FORMAT_VERSION
_SIGNATURE_HEX: Final = 64
_log = logging.getLogger(__name__)


def _checked_key(key: object, what: str) -> bytes:
    if not isinstance(key, bytes) or len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"{what} must be bytes of at least {_MIN_KEY_BYTES} bytes")
    return key


class SnapshotSerializer:
    """Turns a Context's registered vars into record bytes and back, with the fault rules.

    ``codec``: a :class:`JsonCodec` (default) or :class:`CloudpickleCodec`, which
    needs ``signing_key``.  With a ``signing_key`` every record written is signed
    and every record read must carry a valid signature (``previous_keys`` are
    accepted too, for key rotation).  ``max_bytes`` caps a record.  ``lenient``:
    an unencodable value (S2) or an unregistered var in a record (S6) gives a
    SnapshotWarning naming the var and the var is left out, instead of an error.
    """

    def __init__(
        self,
        registry: VarRegistry,
        *,
        codec: JsonCodec | CloudpickleCodec | None = None,
        signing_key: bytes | None = None,
        previous_keys: Iterable[bytes] = (),
        max_bytes: int = 1 << 20,
        lenient: bool = False,
    ) -> None:
        self._registry = registry
        self._codec = JsonCodec() if codec is None else codec
        self._json = self._codec if isinstance(self._codec, JsonCodec) else JsonCodec()
        self._key = None if signing_key is None else _checked_key(signing_key, "signing_key")
        previous = tuple(_checked_key(k, "previous_keys") for k in previous_keys)
        if previous and self._key is None:
            raise ValueError("previous_keys need a signing_key: a worker that verifies also signs")
        self._verify_keys = () if self._key is None else (self._key, *previous)
        if isinstance(self._codec, CloudpickleCodec) and self._key is None:
            raise ValueError(
                "CloudpickleCodec needs signing_key: unpickling runs code, so a worker must "
                "verify who wrote a record before it reads a byte of it"
            )
        if type(max_bytes) is not int or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
        self._max_bytes = max_bytes
        self._lenient = bool(lenient)

    @property
    def registry(self) -> VarRegistry:
        return self._registry

    # -- submit side ------------------------------------------------------------------

    def dumps(self, task_id: str, context: contextvars.Context | None = None) -> bytes:
        """The record for ``task_id``: the registered vars that have a value in ``context``.

        ``context`` defaults to the current one.  A var without a value (unset, or
        only at its default: F3, S5) is not shipped.  S2: a value the codec cannot
        carry raises SnapshotValueError naming the var (or warns, when lenient).
        """
        _envelope.checked_task_id(task_id)
        values = _capture(
            self._registry, contextvars.copy_context() if context is None else context
        )
        body, failures = self._codec._encode_vars(values)
        if failures:
            self._unencodable(task_id, failures)
        if self._key is None and self._codec is self._json:
            record = _JSON_HEAD + task_id.encode() + b" -\n" + body
        else:
            record = _envelope.build(self._codec.name, task_id, body, self._key)
        if len(record) > self._max_bytes:
            self._too_large(task_id, len(record), values, failures)
        return record

    def _unencodable(self, task_id: str, failures: dict[str, tuple[str, str]]) -> None:
        lines = []
        for var_id, (type_name, detail) in failures.items():
            why = "details withheld: the var is secret" if self._is_secret(var_id) else detail
            lines.append(f"var {var_id!r} holds a {type_name} value that cannot be carried ({why})")
        if not self._lenient:
            raise SnapshotValueError(
                f"task {task_id!r} not submitted (S2): " + "; ".join(lines),
                var_id=next(iter(failures)),
            )
        for line in lines:
            warnings.warn(
                f"task {task_id!r}: {line}; it is left out of the snapshot (lenient mode, S2)",
                SnapshotWarning,
                stacklevel=3,
            )

    def _too_large(
        self, task_id: str, size: int, values: dict[str, Any], failures: dict[str, Any]
    ) -> None:
        sizes = {
            var_id: len(self._codec._encode_vars({var_id: value})[0])
            for var_id, value in values.items()
            if var_id not in failures
        }
        largest = sorted(sizes, key=sizes.__getitem__, reverse=True)[:3]
        raise SnapshotTooLargeError(
            f"the snapshot of task {task_id!r} is {size} bytes, over max_bytes="
            f"{self._max_bytes}; largest vars: "
            + ", ".join(f"{var_id!r} ({sizes[var_id]} bytes)" for var_id in largest)
        )

    # -- worker side ------------------------------------------------------------------

    def loads(self, task_id: str, record: bytes | None, *, required: bool = False) -> Snapshot:
        """The snapshot in ``record``, checked in this order (docs/cross-process.md):

        missing (``None``) or malformed: S3, a SnapshotWarning naming the task and
        an empty snapshot, or SnapshotUnavailableError when ``required``; foreign,
        tampered, unsigned where signing is on, another task's, or pickled without
        a key: S4, SnapshotRejectedError before any byte is decoded; a newer
        format: SnapshotVersionError; an unregistered var: S6, UnknownVarError
        (a warning when lenient).
        """
        _envelope.checked_task_id(task_id)
        if type(record) is bytes and len(record) <= self._max_bytes:
            body = self._verified_json_body(task_id, record)
            if body is not None:
                try:
                    values = self._json._decode_vars(body)
                except _MalformedBody as exc:
                    return self._unavailable(task_id, f"is malformed ({exc})", required)
                return self._resolve(task_id, values)
        if record is None:
            return self._unavailable(task_id, "is missing or expired", required)
        if len(record) > self._max_bytes:
            self._reject(task_id, f"it is {len(record)} bytes, over max_bytes={self._max_bytes}")
        try:
            envelope = _envelope.parse(record, task_id)
        except _envelope._Foreign as exc:
            self._reject(task_id, f"foreign payload: {exc}")
        except _envelope._Malformed as exc:
            return self._unavailable(task_id, f"is malformed ({exc})", required)
        self._verify(task_id, envelope)
        codec = self._codec
        try:
            if envelope.codec == CloudpickleCodec.name and isinstance(codec, CloudpickleCodec):
                values = codec._decode_verified(envelope.body)  # _verify checked the signature
            else:
                values = self._json._decode_vars(envelope.body)
        except _MalformedBody as exc:
            return self._unavailable(task_id, f"is malformed ({exc})", required)
        return self._resolve(task_id, values)

    def _verified_json_body(self, task_id: str, record: bytes) -> bytes | None:
        """The common case, checked in a few comparisons: a json record of this task,
        unsigned (no key here) or carrying a valid signature.  None: take the full path,
        which names whatever is wrong."""
        head = _JSON_HEAD + task_id.encode() + b" "
        if not record.startswith(head):
            return None
        start = len(head)
        if not self._verify_keys:
            return record[start + 2 :] if record[start : start + 2] == b"-\n" else None
        end = start + _SIGNATURE_HEX
        if record[end : end + 1] != b"\n":
            return None
        signature, signed_part = record[start:end], record[: start - 1] + record[end:]
        for key in self._verify_keys:
            if hmac.compare_digest(_envelope.sign(key, signed_part).encode(), signature):
                return record[end + 1 :]
        return None

    def _verify(self, task_id: str, envelope: _envelope._Envelope) -> None:
        """S4: every check that needs no decoding, before any decoding."""
        if envelope.codec not in (JsonCodec.name, CloudpickleCodec.name):
            self._reject(task_id, f"unknown codec {envelope.codec!r}")
        if self._verify_keys:
            if envelope.signature is None:
                self._reject(task_id, "it is unsigned, and this worker requires signatures")
            if not any(
                hmac.compare_digest(_envelope.sign(key, envelope.signed_part), envelope.signature)
                for key in self._verify_keys
            ):
                self._reject(
                    task_id, "its signature does not match: tampered, or signed with another key"
                )
        elif envelope.signature is not None:
            self._reject(task_id, "it is signed, but no signing_key is configured to check it")
        if envelope.codec == CloudpickleCodec.name and not isinstance(
            self._codec, CloudpickleCodec
        ):
            self._reject(task_id, "it is pickled, and this worker has not opted in to cloudpickle")
        if envelope.task_id is not None and envelope.task_id != task_id:
            self._reject(task_id, f"it is the record of task {envelope.task_id!r}")

    def _resolve(self, task_id: str, values: dict[str, Any]) -> Snapshot:
        known = self._registry._stdlib_by_id
        if values.keys() <= known.keys():
            return Snapshot(self._registry, values)
        for var_id in [var_id for var_id in values if var_id not in known]:
            message = (
                f"the snapshot of task {task_id!r} carries var {var_id!r}, which is not "
                "registered in this process (S6)"
            )
            if not self._lenient:
                raise UnknownVarError(message + "; register it here too", var_id=var_id)
            warnings.warn(message + "; the task runs without it", SnapshotWarning, stacklevel=3)
            del values[var_id]
        return Snapshot(self._registry, values)

    def _unavailable(self, task_id: str, why: str, required: bool) -> Snapshot:
        if required:
            raise SnapshotUnavailableError(
                f"the snapshot of task {task_id!r} {why}; it is required, so the task "
                "does not run (S3, fail closed)",
                task_id=task_id,
            )
        warnings.warn(
            f"the snapshot of task {task_id!r} {why}; running the task in an empty context (S3)",
            SnapshotWarning,
            stacklevel=3,
        )
        return Snapshot(self._registry, {})

    def _reject(self, task_id: str, why: str) -> NoReturn:
        message = f"rejected the snapshot of task {task_id!r} (S4): {why}; nothing in it was run"
        _log.warning("%s", message)
        raise SnapshotRejectedError(message, task_id=task_id)

    def _is_secret(self, var_id: str) -> bool:
        return self._registry.is_secret(var_id)

    def __repr__(self) -> str:
        signed = "signed" if self._key else "unsigned"
        return f"<SnapshotSerializer {self._codec.name} {signed} vars={len(self._registry)}>"


class TaskSnapshots:
    """One snapshot record per task in a :class:`SnapshotStore`, each with a TTL.

    ``ttl`` is in seconds (default one hour); records live under
    ``key_prefix + task_id``.  The store is the caller's to close.
    """

    def __init__(
        self,
        serializer: SnapshotSerializer,
        store: SnapshotStore,
        *,
        ttl: float = 3600.0,
        key_prefix: str = "ctxprop:snapshot:",
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be positive seconds, got {ttl!r}")
        self._serializer = serializer
        self._store = store
        self._ttl_ms = max(1, round(ttl * 1000))
        self._prefix = key_prefix

    def key(self, task_id: str) -> str:
        """The store key of ``task_id``'s record."""
        return self._prefix + task_id

    def submit(self, task_id: str, context: contextvars.Context | None = None) -> None:
        """Capture ``context`` (default: the current one) and store it as ``task_id``'s record.

        A second submit of the same task id raises SnapshotError: it would serve one
        task's values to another.
        """
        record = self._serializer.dumps(task_id, context)
        if not self._store.add(self._prefix + task_id, record, self._ttl_ms):
            raise SnapshotError(
                f"a snapshot for task {task_id!r} is already stored: task ids must be unique"
            )

    def load(self, task_id: str, *, required: bool = False) -> Snapshot:
        """The stored snapshot of ``task_id`` (see :meth:`SnapshotSerializer.loads`)."""
        record = self._store.get(self._prefix + task_id)
        return self._serializer.loads(task_id, record, required=required)

    def restore(self, task_id: str, *, required: bool = False) -> contextvars.Context:
        """A new Context holding ``task_id``'s vars."""
        return self.load(task_id, required=required).restore()

    def run(self, task_id: str, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """``fn(*args, **kwargs)`` in a new Context holding ``task_id``'s vars."""
        return self.load(task_id).run(fn, *args, **kwargs)

    def discard(self, task_id: str) -> None:
        """Delete ``task_id``'s record (once the task is done); the TTL covers the rest."""
        self._store.delete(self._prefix + task_id)
