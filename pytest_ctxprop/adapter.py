"""The adapter contract (v2): how a runtime tells the suite what it is and how to drive it.

A runtime author writes one small class: a :class:`RuntimeAdapter` for runtimes
called from plain (sync) code, or an :class:`AsyncRuntimeAdapter` for runtimes
called from coroutines (asyncio, or trio through anyio).  A runtime is driven
either as ``submit`` + ``result`` (the task runs apart from the call that
started it) or as ``call`` (the task runs inside one blocking or awaited call),
or both.  The suite calls ``submit``/``call`` from inside the caller's context,
so whatever the runtime captures there is what it would capture for a real
user.  The lifecycle order is fixed: construct, ``register`` /
``declare_forward_only``, ``start``, ``submit``/``result``/``call``/``cancel``...,
``stop``.  See ``docs/adapters.md``.
"""

from __future__ import annotations

import contextvars
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

Model = Literal["copy", "awaited-call"]
VarsTravel = Literal["all", "registered", "none"]
TaskKind = Literal["sync", "async"]

MODELS: tuple[str, ...] = ("copy", "awaited-call")
VARS_TRAVEL: tuple[str, ...] = ("all", "registered", "none")


class Unsupported(Exception):
    """Raised by an adapter for an operation its runtime cannot do.

    The property that needs it is reported ``n/a`` with this message as reason.
    """


class RuntimeUnavailable(Exception):
    """Raised by a factory when the runtime cannot exist here (e.g. too old a Python).

    Every property of that runtime is reported ``n/a`` with this message.
    """


#: properties that need the runtime to carry vars: with vars_travel="none" they are
#: declared deviations (shown as ``D``), never ``n/a``, so forwarding nothing is never green
NEEDS_TRAVEL: tuple[str, ...] = (
    "F1", "F2", "F4", "F5", "F6", "F7", "F8", "I2", "I6", "S1", "S2", "S6",
)  # fmt: skip
_NO_TRAVEL = "vars_travel='none': the runtime declares it carries no vars"


@dataclass(frozen=True)
class Traits:
    """What the suite cannot guess about a runtime (the traits of docs/properties.md).

    ``deviations`` maps a property ID to the reason the runtime knowingly breaks
    it; a deviation that passes, or names no property, is an error (strict).
    ``worker_ambient`` is the runtime's documented rule for values set at worker
    start (I6): reported, not judged.  ``error_changes`` is the documented rule
    for changes made by a task that raises (B5), for ``awaited-call`` runtimes.
    With ``vars_travel="none"`` every property that needs vars to travel
    (:data:`NEEDS_TRAVEL`) is a declared deviation.
    """

    model: Model = "copy"
    crosses_process: bool = False
    reuses_workers: bool = False
    token_transport: bool = False
    vars_travel: VarsTravel = "all"
    deviations: Mapping[str, str] = field(default_factory=dict)
    worker_ambient: str = "undocumented"
    error_changes: str = "undocumented"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"Traits.model must be one of {MODELS}, got {self.model!r}")
        if self.vars_travel not in VARS_TRAVEL:
            raise ValueError(
                f"Traits.vars_travel must be one of {VARS_TRAVEL}, got {self.vars_travel!r}"
            )
        for name in ("crosses_process", "reuses_workers", "token_transport"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"Traits.{name} must be a bool (True or False), got {value!r}")
        for name in ("worker_ambient", "error_changes"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Traits.{name} must be a str, got {getattr(self, name)!r}")
        if not isinstance(self.deviations, Mapping):
            raise TypeError(f"Traits.deviations must be a mapping, got {self.deviations!r}")
        for pid, reason in self.deviations.items():
            if not isinstance(pid, str):
                raise TypeError(f"deviation keys are property IDs (str), got {pid!r}")
            if not isinstance(reason, str) or not reason.strip():
                raise ValueError(f"deviation {pid!r} needs a reason (a non-empty string)")
        deviations = dict(self.deviations)
        if self.vars_travel == "none":
            deviations = {pid: _NO_TRAVEL for pid in NEEDS_TRAVEL} | deviations
        object.__setattr__(self, "deviations", MappingProxyType(deviations))

    def as_dict(self) -> dict[str, Any]:
        """The traits as plain JSON-able data (for the report)."""
        return {
            "model": self.model,
            "crosses_process": self.crosses_process,
            "reuses_workers": self.reuses_workers,
            "token_transport": self.token_transport,
            "vars_travel": self.vars_travel,
            "deviations": dict(self.deviations),
            "worker_ambient": self.worker_ambient,
            "error_changes": self.error_changes,
        }


@dataclass(frozen=True)
class Capabilities:
    """What the adapter can do, declared up front so ``n/a`` costs no waiting.

    ``max_workers``: the most workers the runtime honours (``1`` for a runtime
    with exactly one worker; ``None``: as many as asked).  Properties that need
    more (F6's nested submit-and-wait) are ``n/a`` below that, never a deadlock.
    ``worker_init``: whether ``start`` can run ``worker_init`` in each worker
    (I6).  Whether the adapter can ``cancel``, ``submit`` or ``call`` is read
    from the methods it overrides.
    """

    max_workers: int | None = None
    worker_init: bool = True
    #: S1: the runtime carries closures (it claims cloudpickle)
    closures: bool = False
    #: S3: a task whose snapshot is missing or bad fails closed instead of running empty
    snapshot_required: bool = False

    def __post_init__(self) -> None:
        if self.max_workers is not None and (
            not isinstance(self.max_workers, int) or self.max_workers < 1
        ):
            raise ValueError(
                f"Capabilities.max_workers must be None or >= 1, got {self.max_workers!r}"
            )
        for name in ("worker_init", "closures", "snapshot_required"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"Capabilities.{name} must be a bool, got {getattr(self, name)!r}")


SnapshotFault = Literal["missing", "expired", "malformed", "tampered", "foreign"]
SNAPSHOT_FAULTS: tuple[str, ...] = ("missing", "expired", "malformed", "tampered", "foreign")


class SnapshotAccess(ABC):
    """How S3 and S4 reach the snapshot a runtime stored for a task (``snapshot_access()``).

    Only runtimes that store a context snapshot apart from the task (a record
    in Redis, a file) offer it; S3 and S4 are ``n/a`` for the others.
    """

    @abstractmethod
    def corrupt_next(self, fault: SnapshotFault, payload: bytes | None = None) -> None:
        """Spoil the stored snapshot of the *next* task submitted, before a worker loads it.

        ``missing``: delete it; ``expired``: make it expire (its TTL passed);
        ``malformed``: replace it with a record in the runtime's own format,
        intact (signed, where records are signed), whose body cannot be decoded
        (an older or buggy writer); ``tampered``: change one byte of the record's
        body after it was written; ``foreign``: replace it with ``payload``,
        bytes the suite made (a pickle that would run code if unpickled).
        """

    @abstractmethod
    def warnings(self) -> list[str]:
        """Every warning workers emitted about snapshots so far, oldest first (messages)."""


WorkerInit = Callable[[], None]


class _AdapterBase:
    """What both adapter kinds declare."""

    #: the SPEC traits of the runtime
    traits: ClassVar[Traits] = Traits()
    #: what the adapter can do (workers, worker start)
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: what ``submit``/``call`` accept: plain callables or coroutine functions
    task_kind: ClassVar[TaskKind] = "sync"

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        """Register a var that must travel (called before ``start``, vars_travel='registered')."""
        raise Unsupported(f"{type(self).__name__} cannot register vars")

    def declare_forward_only(self, var: contextvars.ContextVar[Any]) -> None:
        """Mark a var forward-only (called before ``start``): it never flows back (B2)."""
        raise Unsupported(f"{type(self).__name__} has no forward-only vars")

    def snapshot_access(self) -> SnapshotAccess:
        """S3/S4: reach the stored snapshot of the next task (see :class:`SnapshotAccess`)."""
        raise Unsupported(f"{type(self).__name__} offers no snapshot_access() hook")

    def token_record_size(self) -> int:
        """T16: how many entries the runtime keeps to enforce single use of travelled tokens."""
        raise Unsupported(f"{type(self).__name__} does not report its used-token record")

    def nested_runner(self) -> dict[str, Any]:
        """How a task in another process reaches this runtime again (F6).

        A :data:`ctxprop_conformance.probes.RunnerRef`: ``{"factory":
        "pkg.mod:make_runner", "args": [...plain data...]}``.  The factory, called
        where the task runs, returns an object with ``call(fn, *args)`` (a
        coroutine for async tasks).  In-process runtimes need not override this:
        the suite builds one.
        """
        raise Unsupported(f"{type(self).__name__} cannot submit from inside a task")


def _overrides(adapter: object, name: str) -> bool:
    """Whether the adapter's class defines ``name`` itself (not only the base default)."""
    impl = getattr(type(adapter), name, None)
    return impl is not None and impl not in (
        getattr(RuntimeAdapter, name, None),
        getattr(AsyncRuntimeAdapter, name, None),
    )


def can_submit(adapter: object) -> bool:
    """The adapter runs tasks apart from the call that starts them (submit + result)."""
    return _overrides(adapter, "submit") and _overrides(adapter, "result")


def can_call(adapter: object) -> bool:
    """The adapter runs a task inside one blocking or awaited ``call``."""
    return _overrides(adapter, "call")


def can_cancel(adapter: object) -> bool:
    return _overrides(adapter, "cancel")


def can_report_token_record(adapter: object) -> bool:
    """The adapter offers ``token_record_size()`` (T16)."""
    return _overrides(adapter, "token_record_size")


def can_access_snapshots(adapter: object) -> bool:
    """The adapter offers ``snapshot_access()`` (S3, S4)."""
    return _overrides(adapter, "snapshot_access")


def contract_problems(adapter: object) -> list[str]:
    """What keeps ``adapter`` from being driven at all (empty when it can be)."""
    problems = []
    if not (can_submit(adapter) or can_call(adapter)):
        problems.append("it implements neither submit() and result() nor call()")
    elif _overrides(adapter, "submit") != _overrides(adapter, "result"):
        problems.append("submit() and result() come as a pair: it implements only one")
    if getattr(adapter, "task_kind", None) not in ("sync", "async"):
        problems.append(f"task_kind must be 'sync' or 'async', got {adapter.task_kind!r}")  # type: ignore[attr-defined]
    if not isinstance(getattr(adapter, "capabilities", None), Capabilities):
        problems.append("capabilities must be a pytest_ctxprop.Capabilities")
    return problems


class RuntimeAdapter(_AdapterBase, ABC):
    """Adapter for a runtime driven from synchronous code.

    ``start`` is called in a context chosen by the suite (usually empty): create
    pooled workers there.  Then either ``submit`` (called in the caller's
    context, must not wait for the task) and ``result`` (waits at most
    ``timeout`` seconds, raises :class:`TimeoutError` past it, re-raises the
    task's exception), or ``call`` (runs the task and returns its value before
    it returns, within ``timeout``), or both.
    """

    @abstractmethod
    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        """Start the runtime with ``workers`` workers; run ``worker_init`` in each."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the runtime and release its workers."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Submit ``fn(*args)``; return a handle for :meth:`result`."""
        raise Unsupported(f"{type(self).__name__} has no separate submit")

    def result(self, handle: Any, timeout: float) -> Any:
        """The task's return value (or its exception, raised)."""
        raise Unsupported(f"{type(self).__name__} has no separate submit")

    def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        """Run ``fn(*args)`` on the runtime and return its value (a blocking call)."""
        raise Unsupported(f"{type(self).__name__} has no call form")

    def cancel(self, handle: Any, timeout: float) -> None:
        """Cancel a running task and wait until it has stopped (I5)."""
        raise Unsupported(f"{type(self).__name__} cannot cancel a running task")


class AsyncRuntimeAdapter(_AdapterBase, ABC):
    """Adapter for a runtime driven from coroutines.

    The same contract as :class:`RuntimeAdapter`, with coroutine methods run on
    an event loop of ``backend`` ("asyncio", or "trio" through anyio).  ``call``
    is awaited in the caller's own task, so an ``awaited-call`` runtime brings
    the task's changes back there.  ``start`` and ``stop`` run in one task that
    lives as long as the runtime; a runtime that needs a nursery or task group
    for its whole life overrides :meth:`lifespan` instead.
    """

    backend: ClassVar[str] = "asyncio"

    @abstractmethod
    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        """Start the runtime with ``workers`` workers; run ``worker_init`` in each."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop the runtime and release its workers."""

    def lifespan(
        self, *, workers: int, worker_init: WorkerInit | None = None
    ) -> AbstractAsyncContextManager[None]:
        """The runtime's whole life as one ``async with`` (default: start, then stop).

        Override it to hold a trio nursery or anyio task group open from start
        to stop: the suite runs every check inside it, in the same task.
        """
        return self._start_stop(workers=workers, worker_init=worker_init)

    @asynccontextmanager
    async def _start_stop(
        self, *, workers: int, worker_init: WorkerInit | None
    ) -> AsyncIterator[None]:
        await self.start(workers=workers, worker_init=worker_init)
        try:
            yield
        finally:
            await self.stop()

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Submit ``fn(*args)`` from the calling task; return a handle."""
        raise Unsupported(f"{type(self).__name__} has no separate submit")

    async def result(self, handle: Any, timeout: float) -> Any:
        """Await the task's return value (or its exception, raised)."""
        raise Unsupported(f"{type(self).__name__} has no separate submit")

    async def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        """Run ``fn(*args)`` on the runtime, awaited in the caller's own task."""
        raise Unsupported(f"{type(self).__name__} has no call form")

    async def cancel(self, handle: Any, timeout: float) -> None:
        """Cancel a running task and wait until it has stopped (I5)."""
        raise Unsupported(f"{type(self).__name__} cannot cancel a running task")
