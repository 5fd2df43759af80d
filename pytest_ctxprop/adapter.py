"""The adapter contract: how a runtime tells the suite what it is and how to drive it.

A runtime author writes one small class: a :class:`RuntimeAdapter` for runtimes
called from plain (sync) code, or an :class:`AsyncRuntimeAdapter` for runtimes
called from coroutines (asyncio, or trio through anyio).  The suite calls
``submit`` from inside the caller's context, so whatever the runtime captures
there is what it would capture for a real user.  See ``docs/adapters.md``.
"""

from __future__ import annotations

import contextvars
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
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


@dataclass(frozen=True)
class Traits:
    """What the suite cannot guess about a runtime (SPEC: runtime traits).

    ``deviations`` maps a property ID to the reason the runtime knowingly breaks
    it; a deviation that passes, or names no property, is an error (strict).
    ``worker_ambient`` is the runtime's documented rule for values set at worker
    start (I6): reported, not judged.  ``error_changes`` is the documented rule
    for changes made by a task that raises (B5), for ``awaited-call`` runtimes.
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
        for pid, reason in self.deviations.items():
            if not isinstance(reason, str) or not reason.strip():
                raise ValueError(f"deviation {pid!r} needs a reason (a non-empty string)")
        object.__setattr__(self, "deviations", MappingProxyType(dict(self.deviations)))

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


WorkerInit = Callable[[], None]


class _AdapterBase:
    """What both adapter kinds declare."""

    #: the SPEC traits of the runtime
    traits: ClassVar[Traits] = Traits()
    #: what ``submit`` accepts: plain callables or coroutine functions
    task_kind: ClassVar[TaskKind] = "sync"

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        """Register a var that must travel (only called when vars_travel='registered')."""
        raise Unsupported(f"{type(self).__name__} cannot register vars")

    def declare_forward_only(self, var: contextvars.ContextVar[Any]) -> None:
        """Mark a var as forward-only: it reaches the task but never flows back (B2)."""
        raise Unsupported(f"{type(self).__name__} has no forward-only vars")

    def nested_runner(self) -> Any:
        """An object a task uses to submit nested work (F6) in another process.

        In-process runtimes need not override this: the suite builds one.  It must
        offer ``call(fn, *args, timeout=...)`` (sync or async, as ``task_kind``).
        """
        raise Unsupported(f"{type(self).__name__} cannot submit from inside a task")


class RuntimeAdapter(_AdapterBase, ABC):
    """Adapter for a runtime driven from synchronous code.

    ``start`` is called in a context chosen by the suite (usually empty): create
    pooled workers there.  ``submit`` is called in the caller's context and must
    not block on the task.  ``result`` waits at most ``timeout`` seconds, raises
    :class:`TimeoutError` past it, and re-raises the task's exception.
    """

    @abstractmethod
    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        """Start the runtime with ``workers`` workers; run ``worker_init`` in each."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the runtime and release its workers."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Submit ``fn(*args)``; return a handle for :meth:`result`."""

    @abstractmethod
    def result(self, handle: Any, timeout: float) -> Any:
        """The task's return value (or its exception, raised)."""

    def cancel(self, handle: Any, timeout: float) -> None:
        """Cancel a running task and wait until it has stopped (I5)."""
        raise Unsupported(f"{type(self).__name__} cannot cancel a running task")


class AsyncRuntimeAdapter(_AdapterBase, ABC):
    """Adapter for a runtime driven from coroutines.

    The same contract as :class:`RuntimeAdapter`, with coroutine methods run on
    an event loop of ``backend`` ("asyncio", or "trio" through anyio).
    """

    backend: ClassVar[str] = "asyncio"

    @abstractmethod
    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        """Start the runtime with ``workers`` workers; run ``worker_init`` in each."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop the runtime and release its workers."""

    @abstractmethod
    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Submit ``fn(*args)`` from the calling task; return a handle."""

    @abstractmethod
    async def result(self, handle: Any, timeout: float) -> Any:
        """Await the task's return value (or its exception, raised)."""

    async def cancel(self, handle: Any, timeout: float) -> None:
        """Cancel a running task and wait until it has stopped (I5)."""
        raise Unsupported(f"{type(self).__name__} cannot cancel a running task")
