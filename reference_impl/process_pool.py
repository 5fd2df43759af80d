"""A process pool whose tasks run in the submitter's registered vars: the cross-process fix.

``ProcessPoolExecutor`` forwards no context at all: a task runs in whatever
its worker process has.  :class:`ContextProcessPool` captures the registered
vars at submit as a snapshot record (JSON by default, see
docs/cross-process.md), sends it with the task, and the worker restores it into
a *fresh* Context for that task alone, so a reused worker never serves the
previous task's values.  Workers register the same vars by the same
``module:attribute`` paths at start, so only vars both sides know travel.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import sys
import tempfile
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ctxprop_reference import token_dispatch
from ctxprop_reference.snapshot import SnapshotSerializer, VarRegistry, VarSpec
from ctxprop_reference.snapshot_codec import JsonCodec

T = TypeVar("T")

__all__ = ["ContextProcessPool", "forkserver_socket_length"]

#: the longest unix socket path the platform takes (sun_path, less its terminating NUL)
_AF_UNIX_MAX = 103 if sys.platform == "darwin" else 107


def forkserver_socket_length() -> int | None:
    """How long the forkserver's unix socket path would be, if over the platform's limit.

    multiprocessing puts it under TMPDIR (``pymp-*/listener-*``); a long TMPDIR
    makes the server fail to start with "AF_UNIX path too long".  None: it fits.
    """
    length = len(tempfile.gettempdir()) + len("/pymp-12345678/listener-12345678")
    return length if length > _AF_UNIX_MAX else None


#: the worker side, built once per worker process by its initializer
_WORKER_SERIALIZER: SnapshotSerializer | None = None


def _worker_start(
    specs: tuple[VarSpec, ...],
    dataclasses: tuple[tuple[str, str], ...],
    initializer: Callable[[], None] | None,
) -> None:
    """Register the submitter's vars here, by the same paths; then the user's initializer."""
    global _WORKER_SERIALIZER
    _WORKER_SERIALIZER = SnapshotSerializer(
        VarRegistry.from_specs(specs), codec=_codec(dataclasses)
    )
    if initializer is not None:
        initializer()


def _codec(dataclasses: tuple[tuple[str, str], ...]) -> JsonCodec:
    import importlib

    codec = JsonCodec()
    for path, type_id in dataclasses:
        module, _, name = path.partition(":")
        codec.register_dataclass(getattr(importlib.import_module(module), name), type_id)
    return codec


@dataclass(frozen=True)
class _Outcome:
    """What a worker sends back: the value or the exception, and the tokens it spent."""

    value: Any = None
    error: BaseException | None = None
    used: tuple[dict[str, Any], ...] = ()


def _run_in_snapshot(
    task_id: str, record: bytes, fn: Callable[..., Any], args: tuple[Any, ...]
) -> _Outcome:
    """Run one task in a new Context holding exactly its snapshot (and its bound tokens)."""
    assert _WORKER_SERIALIZER is not None, "worker started without _worker_start"
    tokens: list[tuple[Any, bool]] = []
    args = token_dispatch.decode(args, tokens)
    context = token_dispatch.restore(_WORKER_SERIALIZER.loads(task_id, record), tokens)
    try:
        value, error = token_dispatch.encode(context.run(fn, *args)), None
    except Exception as exc:
        value, error = None, token_dispatch.encode(exc)
    used = tuple(t.__ctxprop_wire__() for t, _ in tokens if t._used)
    return _Outcome(value, error, used)


def _settle(
    inner: concurrent.futures.Future[_Outcome], outer: concurrent.futures.Future[Any]
) -> None:
    """Hand the worker's outcome to the caller's future, tokens turned back into tokens."""
    if inner.cancelled():
        outer.cancel()
        return
    failure = inner.exception()
    if failure is not None:
        outer.set_exception(failure)
        return
    outcome = inner.result()
    for wire in outcome.used:  # single use across processes: the caller's tokens are spent
        token_dispatch.decode(token_dispatch.TokenRef(wire))
    if outcome.error is not None:
        outer.set_exception(token_dispatch.decode(outcome.error))
    else:
        outer.set_result(token_dispatch.decode(outcome.value))


def _no_op() -> None:
    """Submitted once per worker at start, so every worker exists before the first task."""


class ContextProcessPool:
    """``ProcessPoolExecutor`` with context propagation through snapshots.

    ``registry`` names the vars that travel (register them with
    ``register_importable``, so workers find them); ``dataclasses`` are
    ``(module:attribute, type id)`` pairs the JSON codec carries.  ``mp_context``
    picks the start method (``multiprocessing.get_context("spawn")``, ``"fork"``).
    """

    def __init__(
        self,
        max_workers: int,
        *,
        registry: VarRegistry,
        dataclasses: tuple[tuple[str, str], ...] = (),
        mp_context: Any = None,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self._serializer = SnapshotSerializer(registry, codec=_codec(dataclasses))
        self._workers = max_workers
        self._executor = concurrent.futures.ProcessPoolExecutor(
            max_workers,
            mp_context=mp_context or multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(registry.specs(), dataclasses, initializer),
        )

    def warm(self, timeout: float = 60.0) -> None:
        """Start every worker now (so nothing is measured while processes start)."""
        with warnings.catch_warnings():
            # fork in a process with threads: the child runs only this module's code
            warnings.filterwarnings(
                "ignore", "This process .* is multi-threaded", DeprecationWarning
            )
            futures = [self._executor.submit(_no_op) for _ in range(self._workers)]
            for future in futures:
                future.result(timeout)

    #: what a worker runs for each task (module level: it is pickled by reference)
    worker: Callable[..., _Outcome] = staticmethod(_run_in_snapshot)

    def encode_args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """The arguments as they travel: tokens minted here are marked resettable there."""
        return token_dispatch.encode(args, here=True)  # type: ignore[no-any-return]

    def settle(
        self, inner: concurrent.futures.Future[_Outcome], outer: concurrent.futures.Future[Any]
    ) -> None:
        """Hand a worker's outcome to the caller's future (see :func:`_settle`)."""
        _settle(inner, outer)

    def submit(self, fn: Callable[..., T], /, *args: Any) -> concurrent.futures.Future[T]:
        """Capture the registered vars now; run ``fn(*args)`` in a worker in exactly those.

        Reference Tokens in ``args`` travel by their wire hook; those minted in
        the current Context can be reset by the task, once (docs/cross-process.md).
        """
        task_id = uuid.uuid4().hex
        record = self._serializer.dumps(task_id)
        inner = self._executor.submit(
            type(self).worker, task_id, record, fn, self.encode_args(args)
        )
        outer: concurrent.futures.Future[T] = concurrent.futures.Future()
        inner.add_done_callback(lambda done: self.settle(done, outer))
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __enter__(self) -> ContextProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
