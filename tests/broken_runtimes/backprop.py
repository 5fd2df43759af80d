"""Broken runtimes for SPEC section B (back-propagation, model=awaited-call), one bug each.

Each class docstring's first line names the real-world bug it models.  Each must
fail its own property and no other (see the notes under each docstring).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from ctxprop_reference.adapters import AwaitedCallAdapter
from ctxprop_reference.aio import AwaitedCall, PendingCall
from pytest_ctxprop.adapter import Traits, WorkerInit
from tests.broken_runtimes._base import PoolRuntime

_MISSING = object()
Changes = dict[contextvars.ContextVar[Any], Any]


def _changed(after: Changes, before: Changes) -> Changes:
    return {var: new for var, new in after.items() if before.get(var, _MISSING) is not new}


# -- a synchronous awaited-call pool (B1, B4) ------------------------------------------


class AwaitedCallPool(PoolRuntime):
    """A thread pool with the awaited-call model, driven from sync code.

    A task runs in a copy of the caller's context; ``result`` applies what the
    task changed to the caller's current context, except forward-only vars.  A
    task that raises has its changes dropped.  Correct as is: the subclasses
    below each add one bug.
    """

    traits: ClassVar[Traits] = Traits(
        model="awaited-call",
        reuses_workers=True,
        worker_ambient="tasks see only the caller's snapshot",
        error_changes="dropped: a task that raises leaves the caller's context as it was",
    )

    def __init__(self) -> None:
        self.forward_only: set[contextvars.ContextVar[Any]] = set()

    def declare_forward_only(self, var: contextvars.ContextVar[Any]) -> None:
        self.forward_only.add(var)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return super().submit(fn, *args), dict(contextvars.copy_context())

    def run_task(self, captured: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return captured.run(self.body, fn, args)

    def body(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, Changes]:
        """Run the task (in its own context); return its value and its changes."""
        before = dict(contextvars.copy_context())
        value = fn(*args)
        return value, _changed(dict(contextvars.copy_context()), before)

    def result(self, handle: Any, timeout: float) -> Any:
        future, _ = handle
        value, changes = future.result(timeout)
        self.merge({v: x for v, x in changes.items() if v not in self.forward_only})
        return value

    def merge(self, changes: Changes) -> None:
        """Apply a task's changes where the caller awaits it."""
        for var, value in changes.items():
            var.set(value)


class HomeThreadMergeQueued(AwaitedCallPool):
    """B1: merges for the thread that started the runtime are queued for a dispatch loop never run.

    The runtime takes the thread that started it for its own event-loop thread
    and defers merges there; every other caller gets its changes at once.  B3's
    callers are other threads; only B1 expects a change in the starting thread.
    """

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.home = threading.get_ident()
        self.home_queue: list[Changes] = []
        super().start(workers=workers, worker_init=worker_init)

    def merge(self, changes: Changes) -> None:
        if threading.get_ident() == self.home:
            self.home_queue.append(changes)  # the bug: nothing ever drains it
            return
        super().merge(changes)


class ChangeFeedDropsResets(AwaitedCallPool):
    """B4: the change feed cannot encode "no value": a var set then reset flows back as last set.

    The runtime records each ``ContextVar.set`` the task makes and replays the
    feed in the caller (wool: value-less wire entries dropped); the net result
    equals a final-state diff except for vars that end the task unbound, which
    only B4 produces.  The feed is recorded with a per-thread profile hook,
    active only while the task runs in its worker thread.
    """

    def body(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, Changes]:
        feed: Changes = {}

        def record(frame: Any, event: str, arg: Any) -> None:
            var = getattr(arg, "__self__", None)
            if (
                event == "c_return"
                and isinstance(var, contextvars.ContextVar)
                and arg.__name__ == "set"  # the bug: a "reset" to no value has no wire entry
            ):
                feed[var] = var.get()

        previous = sys.getprofile()
        sys.setprofile(record)
        try:
            value = fn(*args)
        finally:
            sys.setprofile(previous)
        return value, feed


# -- the reference asyncio awaited call, with one bug each (B2, B3, B5) ------------------


class ForwardOnlyByName(AwaitedCallAdapter):
    """B2: stores forward-only vars by name while the merge looks them up by var: they flow back.

    Only B2 declares a forward-only var.
    """

    def declare_forward_only(self, var: contextvars.ContextVar[Any]) -> None:
        self.calls.forward_only.add(var.name)  # type: ignore[arg-type]


class _LastSubmittedCall(AwaitedCall):
    def submit(self, fn: Callable[..., Coroutine[Any, Any, Any]], /, *args: Any) -> PendingCall:
        self.current = super().submit(fn, *args)
        return self.current

    async def result(self, call: PendingCall, timeout: float | None = None) -> Any:
        await asyncio.wait({call.task}, timeout=timeout)
        merged = self.current  # the bug: the runtime's single slot is merged, not this call
        value = await super().result(merged, timeout)
        if merged is call:
            return value
        ok, own, _ = call.task.result()
        if not ok:
            raise own
        return own


class SingleInFlightSlot(AwaitedCallAdapter):
    """B3: one in-flight slot on the runtime: concurrent callers merge the last submitted call.

    A lone caller's slot holds its own call; only B3 has two callers await at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = _LastSubmittedCall()


class _ClearsOnError(AwaitedCall):
    async def result(self, call: PendingCall, timeout: float | None = None) -> Any:
        try:
            return await super().result(call, timeout)
        except Exception:
            if call.task.done() and not call.task.cancelled():
                ok, _, after = call.task.result()
                if not ok:
                    for var in _changed(dict(after), call.before):
                        var.set(None)  # the bug: "rolls back" to None, not to the caller's value
            raise


class FailedCallClearsVars(AwaitedCallAdapter):
    """B5: on a failed call, "rolls back" the vars the task changed by setting them to None.

    The exception reaches the caller intact.  Isolation checks run failing
    tasks from a copy of the caller, so only B5 reads the caller's var after a
    failed call.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = _ClearsOnError()
