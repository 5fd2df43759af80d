"""The driver: runs one scenario as the caller of one runtime, within one bound.

A scenario is written once, as a coroutine function taking a
:class:`~ctxprop_conformance.caller.Caller`.  For a sync adapter the coroutine
is stepped with no event loop at all (every ``await`` on the caller completes at
once), so the caller is plain sync code in a plain thread; for an async adapter
it runs as the main task on the adapter's backend, in the same task as the
adapter's ``start`` and ``stop`` (its :meth:`lifespan`).

The lifecycle order is fixed: construct, ``register``/``declare_forward_only``,
``start``, the scenario's calls, ``stop``.  What makes a property ``n/a``
(capabilities, worker count) is decided before anything starts.  Each phase of
a check has the bound ``timeout``: ``start`` (a pool of worker processes on a
loaded machine must not eat the scenario's time), the scenario, and the
clean-up (releasing held tasks, retrieving every abandoned task's outcome,
``stop``).  A call still stuck past its phase's bound is abandoned with its
daemon thread and reported as an ``error`` naming the call.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ctxprop_conformance import probes
from ctxprop_conformance.blame import describe_exception, first_leaf, trimmed_traceback
from ctxprop_conformance.caller import Caller, RuntimeFailure
from pytest_ctxprop._verdicts import AdapterError, HarnessError, not_applicable
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    RuntimeAdapter,
    Unsupported,
    WorkerInit,
    can_access_snapshots,
    can_cancel,
    can_report_token_record,
    can_submit,
)

T = TypeVar("T")
Scenario = Any  # Callable[[Caller], Coroutine[Any, Any, T]]
#: how long past a bound the watchdog waits before abandoning the check's thread
GRACE = 0.5


@dataclass(frozen=True)
class Setup:
    """How a scenario wants the runtime started, and what it needs of the adapter."""

    workers: int = 2
    worker_init: WorkerInit | None = None
    #: probe-var values current while the runtime starts (F7)
    start_values: dict[str, Any] = field(default_factory=dict)
    forward_only: tuple[str, ...] = ()
    #: the scenario holds a task between submit and run (needs submit + result)
    needs_submit: bool = False
    needs_cancel: bool = False
    #: the fewest workers the scenario can run on without deadlocking
    min_workers: int = 1
    #: S3/S4: the scenario spoils stored snapshots through adapter.snapshot_access()
    needs_snapshot_access: bool = False
    #: T16: the scenario reads adapter.token_record_size()
    needs_token_record: bool = False
    #: vars registered after the probe vars, whose register() errors the scenario judges (S6)
    register_also: tuple[contextvars.ContextVar[Any], ...] = ()


def check_capabilities(adapter: RuntimeAdapter | AsyncRuntimeAdapter, setup: Setup) -> None:
    """End the check as ``n/a`` now if the adapter cannot do what the scenario needs."""
    caps = adapter.capabilities
    if setup.needs_submit and not can_submit(adapter):
        not_applicable(
            "call-style adapter (no separate submit): the caller cannot act between "
            "submitting a task and its run"
        )
    if setup.needs_cancel and not can_cancel(adapter):
        not_applicable("the adapter cannot cancel a running task (it has no cancel())")
    if caps.max_workers is not None and caps.max_workers < setup.min_workers:
        not_applicable(
            f"the runtime honours at most {caps.max_workers} worker(s); this check needs "
            f"{setup.min_workers} (a nested submit-and-wait would wait on its own worker)"
        )
    if setup.needs_token_record and not can_report_token_record(adapter):
        not_applicable("the adapter does not report its used-token record (token_record_size())")
    if setup.needs_snapshot_access and not can_access_snapshots(adapter):
        not_applicable("the adapter offers no snapshot_access() hook to reach stored snapshots")
    if setup.worker_init is not None and not caps.worker_init:
        not_applicable("the runtime has no worker start (Capabilities(worker_init=False))")


def step_without_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, as plain sync code."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise HarnessError("scenario suspended under a sync runtime (an await that waits)")


def _workers(adapter: RuntimeAdapter | AsyncRuntimeAdapter, setup: Setup) -> int:
    cap = adapter.capabilities.max_workers
    return setup.workers if cap is None else min(setup.workers, cap)


def _lifecycle_error(method: str, exc: BaseException) -> AdapterError:
    return AdapterError(
        method,
        f"{method}() of the adapter raised {describe_exception(exc)}\n" + trimmed_traceback(exc),
    )


def _prepare(adapter: RuntimeAdapter | AsyncRuntimeAdapter, setup: Setup, caller: Caller) -> None:
    """Registration, before ``start`` (the documented lifecycle order)."""
    method = "register"
    try:
        if adapter.traits.vars_travel == "registered":
            for var in probes.REGISTERED:
                adapter.register(var)
            if adapter.traits.token_transport:
                from ctxprop_conformance.token_probe_vars import TV

                adapter.register(TV)  # type: ignore[arg-type]
            for var in setup.register_also:
                try:
                    adapter.register(var)
                except Unsupported:
                    raise
                except Exception as exc:  # judged by the scenario
                    caller.register_errors.append(exc)
        method = "declare_forward_only"
        for name in setup.forward_only:
            adapter.declare_forward_only(probes.VARS[name])
    except Unsupported as exc:
        not_applicable(str(exc))
    except Exception as exc:
        raise _lifecycle_error(method, exc) from None


def _start_context(setup: Setup) -> contextvars.Context:
    ctx = contextvars.Context()
    for name, value in setup.start_values.items():
        ctx.run(probes.VARS[name].set, value)
    return ctx


def _drain_sync(adapter: RuntimeAdapter, caller: Caller) -> None:
    """Retrieve the outcome of every task the scenario left behind (nothing leaks)."""
    for pending in caller.unretrieved():
        with suppress(Exception):
            adapter.result(pending.handle, max(caller.remaining(), 0.1))


def _drive_sync(adapter: RuntimeAdapter, setup: Setup, scenario: Scenario, caller: Caller) -> Any:
    caller.progress.method = "start"
    try:
        _start_context(setup).run(adapter.start, workers=_workers(adapter, setup),
                                  worker_init=setup.worker_init)  # fmt: skip
    except Unsupported as exc:
        not_applicable(str(exc))
    except Exception as exc:
        raise _lifecycle_error("start", exc) from None
    caller.deadline = time.monotonic() + caller.timeout  # the scenario's own bound
    try:
        return contextvars.Context().run(step_without_loop, scenario(caller))
    finally:
        caller.deadline = time.monotonic() + caller.timeout  # the clean-up's own bound
        caller.close_gates()
        caller.progress.method = "result"
        _drain_sync(adapter, caller)
        caller.progress.method = "stop"
        try:
            contextvars.Context().run(adapter.stop)
        except Exception as exc:
            raise _lifecycle_error("stop", exc) from None


async def _drain_async(adapter: AsyncRuntimeAdapter, caller: Caller) -> None:
    import asyncio

    import anyio

    for pending in caller.unretrieved():
        # a cancelled task's CancelledError is its outcome here, not ours: suppressed
        # outside the scope, so the scope's own timeout still ends the wait
        with suppress(Exception, asyncio.CancelledError):
            with anyio.move_on_after(max(caller.remaining(), 0.1)):
                await adapter.result(pending.handle, max(caller.remaining(), 0.1))


async def _lifecycle(adapter: AsyncRuntimeAdapter, setup: Setup, scenario: Scenario,
                     caller: Caller) -> Any:  # fmt: skip
    """The whole check in one task: ``async with lifespan`` around the scenario.

    One cancel scope bounds it all, with a deadline a little past the caller's
    (so a call's own ``fail_after`` fires first); it moves once, when the
    clean-up starts.  No other scope is entered across the lifespan's edges,
    so a nursery held by ``lifespan`` nests properly.
    """
    import anyio

    if adapter.backend == "asyncio":
        import asyncio

        caller.loop = asyncio.get_running_loop()
    own = type(adapter).lifespan is not AsyncRuntimeAdapter.lifespan
    start_name, stop_name = ("lifespan", "lifespan") if own else ("start", "stop")
    tokens = [(probes.VARS[n], probes.VARS[n].set(v)) for n, v in setup.start_values.items()]
    phase, outcome, value = "start", None, None
    caller.progress.method = start_name
    with anyio.CancelScope(deadline=anyio.current_time() + caller.remaining() + GRACE / 2) as scope:
        try:
            async with adapter.lifespan(
                workers=_workers(adapter, setup), worker_init=setup.worker_init
            ):
                phase = "scenario"
                caller.deadline = time.monotonic() + caller.timeout  # the scenario's own bound
                scope.deadline = anyio.current_time() + caller.timeout + GRACE / 2
                for var, token in reversed(tokens):  # workers were created under start_values;
                    var.reset(token)  # the caller starts empty
                try:
                    value = await scenario(caller)
                except BaseException as exc:
                    outcome = exc
                    raise
                finally:
                    caller.deadline = time.monotonic() + caller.timeout  # the clean-up's bound
                    scope.deadline = anyio.current_time() + caller.timeout + GRACE / 2
                    caller.close_gates()
                    caller.progress.method = "result"
                    await _drain_async(adapter, caller)
                    phase, caller.progress.method = "stop", stop_name
        except Unsupported as exc:
            if phase != "start":
                raise
            not_applicable(str(exc))
        except BaseException as exc:
            if phase == "start":
                raise _lifecycle_error(start_name, first_leaf(exc)) from None
            if phase == "stop" and exc is not outcome:
                error = _lifecycle_error(stop_name, first_leaf(exc))
                if outcome is not None and not isinstance(outcome, AdapterError):
                    error.args = (f"{error.args[0]}\n(the check itself ended with "
                                  f"{describe_exception(outcome)})",)  # fmt: skip
                raise error from None
            raise
    if scope.cancelled_caught:
        raise AdapterError(
            caller.progress.method,
            f"{caller.progress.describe()} did not return within its bound ({caller.timeout:g}s)",
        )
    return value


def _hung(caller: Caller) -> AdapterError:
    method = caller.progress.method
    return AdapterError(
        method,
        f"{caller.progress.describe()} did not return within its bound "
        f"({caller.timeout:g}s): hung; the call and its thread are abandoned",
    )


def run_scenario(
    adapter: RuntimeAdapter | AsyncRuntimeAdapter,
    scenario: Scenario,
    setup: Setup | None = None,
    timeout: float = 10.0,
) -> Any:
    """Run ``scenario`` against a fresh ``adapter``, within the bound described above.

    Raises :class:`RuntimeFailure` when the runtime did not deliver a task, and
    :class:`AdapterError` when the adapter broke or hung.
    """
    setup = setup or Setup()
    check_capabilities(adapter, setup)
    caller = Caller(adapter, timeout, time.monotonic() + timeout)
    outcome: list[tuple[bool, Any]] = []

    def body() -> None:
        try:
            _prepare(adapter, setup, caller)
            if isinstance(adapter, AsyncRuntimeAdapter):
                import anyio

                value = contextvars.Context().run(
                    anyio.run, _lifecycle, adapter, setup, scenario, caller,
                    backend=adapter.backend,
                )  # fmt: skip
            else:
                value = _drive_sync(adapter, setup, scenario, caller)
            outcome.append((True, value))
        except BaseException as exc:  # handed back to the test thread
            outcome.append((False, exc))

    thread = threading.Thread(target=body, daemon=True, name="ctxprop-scenario")
    thread.start()
    while thread.is_alive():
        # the deadline moves when the scenario and when the clean-up start: follow it
        left = caller.deadline - time.monotonic() + GRACE
        if left <= 0:
            break
        thread.join(left)
    if thread.is_alive():
        raise _hung(caller)
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


__all__ = ["GRACE", "Caller", "RuntimeFailure", "Setup", "check_capabilities", "run_scenario"]
