"""The driver: runs one scenario as the caller of one runtime, bounded in time.

A scenario is written once, as a coroutine function taking a :class:`Caller`.
For a sync adapter the coroutine is stepped with no event loop at all (every
``await`` on the caller completes at once), so the caller is plain sync code in
a plain thread; for an async adapter it runs as the main task on the adapter's
backend.  Either way the caller starts from a fresh, empty context, the runtime
is started in the context the scenario asks for (empty unless it says
otherwise), and the whole run happens in a daemon thread joined with a bound:
a hung runtime becomes a :class:`HarnessError`, never a hung session.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ctxprop_conformance import probes
from ctxprop_conformance.gates import GateOwner, SignalOwner
from pytest_ctxprop._verdicts import HarnessError, not_applicable
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    RuntimeAdapter,
    Traits,
    Unsupported,
    WorkerInit,
)

if sys.version_info < (3, 11):  # pragma: no cover - anyio brings the backport
    from exceptiongroup import BaseExceptionGroup

T = TypeVar("T")
Scenario = Callable[["Caller"], Coroutine[Any, Any, T]]


@dataclass(frozen=True)
class Setup:
    """How a scenario wants the runtime started."""

    workers: int = 2
    worker_init: WorkerInit | None = None
    #: probe-var values current while the runtime starts (F7)
    start_values: dict[str, Any] = field(default_factory=dict)
    forward_only: tuple[str, ...] = ()


def _step_without_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, as plain sync code."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise HarnessError("scenario suspended under a sync runtime (an await that waits)")


class _SyncNested:
    """Nested submission from a task of an in-process sync runtime (F6)."""

    def __init__(self, adapter: RuntimeAdapter, timeout: float) -> None:
        self._adapter, self._timeout = adapter, timeout

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._adapter.result(self._adapter.submit(fn, *args), self._timeout)


class _AsyncNested:
    """Nested submission from a coroutine task of an async runtime (F6)."""

    def __init__(self, adapter: AsyncRuntimeAdapter, timeout: float) -> None:
        self._adapter, self._timeout = adapter, timeout

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        handle = await self._adapter.submit(fn, *args)
        return await self._adapter.result(handle, self._timeout)


class _ThreadToLoopNested:
    """Nested submission from a worker thread of an asyncio runtime (F6).

    ``run_coroutine_threadsafe`` schedules from the worker's current context, so
    the nested submit sees what the task set.
    """

    def __init__(self, adapter: AsyncRuntimeAdapter, loop: Any, timeout: float) -> None:
        self._adapter, self._loop, self._timeout = adapter, loop, timeout

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        import asyncio

        async def nested() -> Any:
            handle = await self._adapter.submit(fn, *args)
            return await self._adapter.result(handle, self._timeout)

        future = asyncio.run_coroutine_threadsafe(nested(), self._loop)
        return future.result(self._timeout)


class Caller:
    """What a scenario uses to act as the runtime's caller."""

    def __init__(self, adapter: RuntimeAdapter | AsyncRuntimeAdapter, timeout: float) -> None:
        self.adapter = adapter
        self.traits: Traits = adapter.traits
        self.task_kind = adapter.task_kind
        self.timeout = timeout
        self.is_async = isinstance(adapter, AsyncRuntimeAdapter)
        self._owned: list[GateOwner | SignalOwner] = []
        self._loop: Any = None

    # -- the runtime -------------------------------------------------------------

    async def submit(self, probe: probes.Probe, *args: Any) -> Any:
        fn = probe.for_kind(self.task_kind)
        if isinstance(self.adapter, AsyncRuntimeAdapter):
            return await self.adapter.submit(fn, *args)
        return self.adapter.submit(fn, *args)

    async def result(self, handle: Any) -> Any:
        if isinstance(self.adapter, AsyncRuntimeAdapter):
            import anyio

            with anyio.fail_after(self.timeout * 2):
                return await self.adapter.result(handle, self.timeout)
        return self.adapter.result(handle, self.timeout)

    async def call(self, probe: probes.Probe, *args: Any) -> Any:
        return await self.result(await self.submit(probe, *args))

    async def cancel(self, handle: Any) -> None:
        try:
            if isinstance(self.adapter, AsyncRuntimeAdapter):
                await self.adapter.cancel(handle, self.timeout)
            else:
                self.adapter.cancel(handle, self.timeout)
        except Unsupported as exc:
            not_applicable(str(exc))

    def nested_runner(self) -> Any:
        """What a task gets to submit nested work through the same runtime."""
        if self.traits.crosses_process:
            try:
                return self.adapter.nested_runner()
            except Unsupported as exc:
                not_applicable(str(exc))
        if isinstance(self.adapter, RuntimeAdapter):
            return _SyncNested(self.adapter, self.timeout)
        if self.task_kind == "async":
            return _AsyncNested(self.adapter, self.timeout)
        if self._loop is None:
            not_applicable(
                f"nested submission from worker threads needs asyncio, not {self.adapter.backend}"
            )
        return _ThreadToLoopNested(self.adapter, self._loop, self.timeout)

    # -- synchronisation -----------------------------------------------------------

    def gate(self) -> GateOwner:
        owner = GateOwner()
        self._owned.append(owner)
        return owner

    def signal(self) -> SignalOwner:
        owner = SignalOwner()
        self._owned.append(owner)
        return owner

    async def wait(self, owner: SignalOwner) -> None:
        """Wait for a task's signal without blocking tasks on the caller's loop."""
        if self.is_async:
            import anyio

            await anyio.to_thread.run_sync(owner.wait, self.timeout)
        else:
            owner.wait(self.timeout)

    async def concurrently(self, *callers: Callable[[], Awaitable[T]]) -> list[T]:
        """Run several callers at once, each in a copy of the current context."""
        if self.is_async:
            import anyio

            results: list[Any] = [None] * len(callers)

            async def run(i: int) -> None:
                results[i] = await callers[i]()

            try:
                async with anyio.create_task_group() as tg:
                    for i in range(len(callers)):
                        tg.start_soon(run, i)
            except BaseException as exc:
                raise _first_leaf(exc) from None
            return results
        return _run_in_threads(
            [lambda c=c: _step_without_loop(c()) for c in callers],
            self.timeout,  # type: ignore[misc]
        )

    async def call_aside(self, probe: probes.Probe, *args: Any) -> Any:
        """``call`` from a copy of the caller's context, so nothing flows back here.

        Lets isolation checks submit a follow-up task "with V unset" even on an
        awaited-call runtime, where the first task's changes flow back (B1).
        """
        (result,) = await self.concurrently(lambda: self.call(probe, *args))
        return result

    def close(self) -> None:
        for owner in self._owned:
            owner.close()


def _first_leaf(exc: BaseException) -> BaseException:
    """The exception a scenario raised, out of the task group's exception group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _run_in_threads(bodies: list[Callable[[], T]], timeout: float) -> list[T]:
    outcomes: list[tuple[bool, Any]] = [(False, None)] * len(bodies)

    def run(i: int) -> None:
        try:
            outcomes[i] = (True, bodies[i]())
        except BaseException as exc:  # handed back to the scenario below
            outcomes[i] = (False, exc)

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(run, i), daemon=True)
        for i in range(len(bodies))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        if t.is_alive():
            raise HarnessError(f"a concurrent caller did not finish within {timeout}s")
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]


def _start_context(setup: Setup, base: contextvars.Context | None = None) -> contextvars.Context:
    """An empty context (or ``base``: what the event loop itself set) plus ``start_values``."""
    ctx = base or contextvars.Context()
    for name, value in setup.start_values.items():
        ctx.run(probes.VARS[name].set, value)
    return ctx


def _prepare(adapter: RuntimeAdapter | AsyncRuntimeAdapter, setup: Setup) -> None:
    try:
        if adapter.traits.vars_travel == "registered":
            for var in probes.REGISTERED:
                adapter.register(var)
        for name in setup.forward_only:
            adapter.declare_forward_only(probes.VARS[name])
    except Unsupported as exc:
        not_applicable(str(exc))


def _drive_sync(adapter: RuntimeAdapter, setup: Setup, scenario: Scenario[T], timeout: float) -> T:
    caller = Caller(adapter, timeout)
    try:
        _start_context(setup).run(
            adapter.start, workers=setup.workers, worker_init=setup.worker_init
        )
    except Unsupported as exc:
        not_applicable(str(exc))
    try:
        return contextvars.Context().run(_step_without_loop, scenario(caller))
    finally:
        caller.close()
        contextvars.Context().run(adapter.stop)


def _drive_async(
    adapter: AsyncRuntimeAdapter, setup: Setup, scenario: Scenario[T], timeout: float
) -> T:
    import anyio

    async def lifecycle() -> T:
        caller = Caller(adapter, timeout)
        if adapter.backend == "asyncio":
            import asyncio

            caller._loop = asyncio.get_running_loop()
        started: list[BaseException] = []

        async def start() -> None:
            try:
                await adapter.start(workers=setup.workers, worker_init=setup.worker_init)
            except BaseException as exc:  # re-raised in the caller below
                started.append(exc)

        with anyio.fail_after(timeout):
            try:
                async with anyio.create_task_group() as tg:
                    # the loop's own vars (trio's sniffio marker) stay; no caller values exist yet
                    _start_context(setup, contextvars.copy_context()).run(tg.start_soon, start)
            except BaseException as exc:
                raise _first_leaf(exc) from None
        if started:
            if isinstance(started[0], Unsupported):
                not_applicable(str(started[0]))
            raise started[0]
        try:
            return await scenario(caller)
        finally:
            caller.close()
            with anyio.fail_after(timeout), suppress(Exception):
                await adapter.stop()

    return contextvars.Context().run(anyio.run, lifecycle, backend=adapter.backend)


def run_scenario(
    adapter: RuntimeAdapter | AsyncRuntimeAdapter,
    scenario: Scenario[T],
    setup: Setup | None = None,
    timeout: float = 10.0,
) -> T:
    """Run ``scenario`` against a fresh ``adapter``; bounded by a few ``timeout``s."""
    setup = setup or Setup()
    _prepare(adapter, setup)
    outcome: list[tuple[bool, Any]] = []

    def body() -> None:
        try:
            if isinstance(adapter, AsyncRuntimeAdapter):
                outcome.append((True, _drive_async(adapter, setup, scenario, timeout)))
            else:
                outcome.append((True, _drive_sync(adapter, setup, scenario, timeout)))
        except BaseException as exc:  # handed back to the test thread
            outcome.append((False, exc))

    thread = threading.Thread(target=body, daemon=True, name="ctxprop-scenario")
    thread.start()
    bound = timeout * 4
    thread.join(bound)
    if thread.is_alive():
        raise HarnessError(
            f"the runtime did not finish the scenario within {bound:g}s (hung); "
            "its threads are abandoned"
        )
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
