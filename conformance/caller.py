"""The caller a scenario acts as: every call into the adapter, timed, named and judged.

Each adapter call runs under the check's deadline and records what is in
progress (method, step, probe), so a hang is reported by name.  What comes out
is sorted by :mod:`ctxprop_conformance.blame`: the runtime raising or never
finishing a task is a :class:`RuntimeFailure` (verdict ``fail``), the adapter's
own code raising or returning what the contract does not allow is an
:class:`~pytest_ctxprop._verdicts.AdapterError` (verdict ``error``).
"""

from __future__ import annotations

import contextvars
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from ctxprop_conformance import nested, probes
from ctxprop_conformance.blame import describe_exception, first_leaf, raised_by_adapter
from ctxprop_conformance.gates import GateClosed, GateOwner, GateTimeout, SignalOwner
from ctxprop_conformance.observations import undescribe
from pytest_ctxprop._verdicts import AdapterError, HarnessError, not_applicable
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    RuntimeAdapter,
    SnapshotAccess,
    Traits,
    Unsupported,
    can_call,
)

T = TypeVar("T")


class RuntimeFailure(Exception):
    """The runtime did not deliver a task: raised, or never finished within the bound."""

    def __init__(self, step: str, observed: str) -> None:
        super().__init__(f"{step}: {observed}")
        self.step, self.observed = step, observed


@dataclass
class Progress:
    """What the check is doing now: read by the watchdog when the check hangs."""

    method: str = "construct"
    step: str = ""
    since: float = 0.0

    def describe(self) -> str:
        return f"{self.method}()" + (f" for {self.step}" if self.step else "")


@dataclass
class Attempt:
    """What came of a task that may be refused: its value, or what was raised, and warnings."""

    value: Any
    raised: BaseException | None
    warnings: list[str]


@dataclass
class Pending:
    """A submitted task: the adapter's handle and what it is for."""

    handle: Any
    step: str
    retrieved: bool = False


class Caller:
    """What a scenario uses to act as the runtime's caller."""

    def __init__(
        self, adapter: RuntimeAdapter | AsyncRuntimeAdapter, timeout: float, deadline: float
    ) -> None:
        self.adapter = adapter
        self.traits: Traits = adapter.traits
        self.task_kind = adapter.task_kind
        self.timeout = timeout
        self.deadline = deadline
        self.is_async = isinstance(adapter, AsyncRuntimeAdapter)
        self.progress = Progress()
        self.loop: Any = None
        self._owned: list[GateOwner | SignalOwner] = []
        self._pending: list[Pending] = []
        self._runner_refs: list[dict[str, Any]] = []
        self._slow_submit = False
        self._lock = threading.Lock()
        #: what register() raised for vars a scenario registers on purpose (S6)
        self.register_errors: list[BaseException] = []

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    # -- judging what comes back ---------------------------------------------------------

    @contextmanager
    def calling(self, method: str, step: str) -> Iterator[None]:
        """Track ``method`` as in progress; turn what escapes it into a verdict."""
        with self._lock:
            self.progress = Progress(method, step, time.monotonic())
        try:
            yield
        except (RuntimeFailure, AdapterError, HarnessError):
            raise
        except Unsupported as exc:
            not_applicable(str(exc))
        except Exception as exc:  # cancellation of the caller itself propagates untouched
            raise self._judge(method, step, first_leaf(exc)) from exc

    def _judge(self, method: str, step: str, exc: BaseException) -> BaseException:
        if isinstance(exc, GateClosed):
            return HarnessError(f"{step}: {exc}")
        if isinstance(exc, GateTimeout) and self._slow_submit:
            return AdapterError(
                "submit",
                f"{step}: submit() returned only once the task had given up waiting at a gate "
                "the caller could open only after submit() returned: submit() must not wait "
                "for the task. A runtime that runs the task inside the call is adapted with "
                "call() instead (docs/adapters.md, call-style adapters).",
            )
        if isinstance(exc, _unfinished_types()):  # the task never finished
            return RuntimeFailure(
                step, f"not finished within the bound ({method}() raised {describe_exception(exc)})"
            )
        if raised_by_adapter(exc, self.adapter):
            from ctxprop_conformance.blame import trimmed_traceback

            return AdapterError(
                method,
                f"{method}() of the adapter raised {describe_exception(exc)} ({step})\n"
                + trimmed_traceback(exc),
            )
        return RuntimeFailure(step, f"the runtime raised {describe_exception(exc)}")

    def _observed(self, method: str, step: str, raw: Any) -> Any:
        try:
            return undescribe(raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise AdapterError(
                method,
                f"{step}: {method}() returned {raw!r:.120}, not what the task returned "
                f"({exc}); return the task's value unchanged",
            ) from None

    # -- the runtime -------------------------------------------------------------------

    async def submit(self, probe: probes.Probe, *args: Any, step: str) -> Pending:
        fn = probe.for_kind(self.task_kind)
        step = f"{step} (probe {probe.name})"
        begun = time.monotonic()
        with self.calling("submit", step):
            if isinstance(self.adapter, AsyncRuntimeAdapter):
                handle = await self._bounded(self.adapter.submit(fn, *args))
            else:
                handle = self.adapter.submit(fn, *args)
        if time.monotonic() - begun > self.timeout / 2:
            self._slow_submit = True
        if handle is None:
            raise AdapterError("submit", f"{step}: submit() returned None, not a handle")
        pending = Pending(handle, step)
        self._pending.append(pending)
        return pending

    async def result(self, pending: Pending) -> Any:
        return self._observed("result", pending.step, await self._result_raw(pending))

    async def _result_raw(self, pending: Pending) -> Any:
        pending.retrieved = True
        with self.calling("result", pending.step):
            if isinstance(self.adapter, AsyncRuntimeAdapter):
                return await self._bounded(self.adapter.result(pending.handle, self.remaining()))
            return self.adapter.result(pending.handle, self.remaining())

    async def call(self, probe: probes.Probe, *args: Any, step: str) -> Any:
        method = "call" if can_call(self.adapter) else "result"
        raw = await self.call_raw(probe, *args, step=step)
        return self._observed(method, f"{step} (probe {probe.name})", raw)

    async def call_raw(self, probe: probes.Probe, *args: Any, step: str) -> Any:
        """``call`` a probe whose result may hold live objects (tokens): no decoding."""
        if not can_call(self.adapter):
            return await self._result_raw(await self.submit(probe, *args, step=step))
        fn = probe.for_kind(self.task_kind)
        with self.calling("call", f"{step} (probe {probe.name})"):
            if isinstance(self.adapter, AsyncRuntimeAdapter):
                return await self._bounded(self.adapter.call(fn, *args, timeout=self.remaining()))
            return self.adapter.call(fn, *args, timeout=self.remaining())

    def token_record_size(self) -> int:
        with self.calling("token_record_size", "T16 used-token record"):
            size = self.adapter.token_record_size()
        if not isinstance(size, int):
            raise AdapterError("token_record_size", f"token_record_size() returned {size!r}")
        return size

    async def call_raising(self, probe: probes.Probe, *args: Any, step: str) -> BaseException:
        """Call a task that raises; return the exception the caller got (I4, B5)."""
        try:
            value = await self.call(probe, *args, step=step)
        except RuntimeFailure as failure:
            cause = failure.__cause__
            if cause is not None and failure.observed.startswith("the runtime raised"):
                return first_leaf(cause)
            raise
        raise RuntimeFailure(step, f"the task raised, but the caller got a value: {value!r:.80}")

    async def attempt(self, probe: probes.Probe, *args: Any, step: str) -> Attempt:
        """Call a task the runtime may refuse (S2, S3, S4, S6): keep the error and the warnings."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value, raised = await self.call(probe, *args, step=step), None
            except RuntimeFailure as failure:
                cause = failure.__cause__
                if cause is None or not failure.observed.startswith("the runtime raised"):
                    raise
                value, raised = None, first_leaf(cause)
        return Attempt(value, raised, [str(w.message) for w in caught])

    def snapshot_access(self) -> SnapshotAccess:
        with self.calling("snapshot_access", "S3/S4 snapshot access"):
            access = self.adapter.snapshot_access()
        if not isinstance(access, SnapshotAccess):
            raise AdapterError(
                "snapshot_access", f"snapshot_access() returned {access!r}, not a SnapshotAccess"
            )
        return access

    async def cancel(self, pending: Pending, step: str) -> None:
        pending.retrieved = True  # cancel waits until the task stopped: its outcome is that
        with self.calling("cancel", step):
            if isinstance(self.adapter, AsyncRuntimeAdapter):
                await self._bounded(self.adapter.cancel(pending.handle, self.remaining()))
            else:
                self.adapter.cancel(pending.handle, self.remaining())

    async def _bounded(self, awaitable: Awaitable[T]) -> T:
        import anyio

        with anyio.fail_after(self.remaining()):
            return await awaitable

    def nested_runner(self) -> dict[str, Any]:
        """The ref a task gets to submit nested work through the same runtime (F6)."""
        if self.traits.crosses_process:
            with self.calling("nested_runner", "F6 nested runner"):
                ref = self.adapter.nested_runner()
            if not isinstance(ref, dict) or "factory" not in ref:
                raise AdapterError(
                    "nested_runner", f"nested_runner() returned {ref!r}, not a RunnerRef dict"
                )
            return ref
        runner: Any
        if isinstance(self.adapter, RuntimeAdapter) and self.task_kind == "async":
            not_applicable(
                "a sync-driven runtime of coroutine tasks: a nested blocking call from a "
                "task would block the loop the task runs on"
            )
        if isinstance(self.adapter, RuntimeAdapter):
            runner = nested.SyncNested(self.adapter, self.timeout)
        elif self.task_kind == "async":
            runner = nested.AsyncNested(self.adapter, self.timeout)
        elif self.loop is not None:
            runner = nested.ThreadToLoopNested(self.adapter, self.loop, self.timeout)
        else:
            not_applicable(
                f"nested submission from worker threads needs asyncio, not {self.adapter.backend}"
            )
        ref = nested.register(runner)
        self._runner_refs.append(ref)
        return ref

    # -- synchronisation -----------------------------------------------------------------

    def gate(self, step: str) -> GateOwner:
        owner = GateOwner(step, self.remaining())
        self._owned.append(owner)
        return owner

    def signal(self, step: str) -> SignalOwner:
        owner = SignalOwner(step, self.remaining())
        self._owned.append(owner)
        return owner

    async def wait(self, owner: SignalOwner) -> None:
        """Wait for a task's signal without blocking tasks on the caller's loop."""
        step = owner.endpoint.step
        with self.calling("wait", step):
            try:
                if self.is_async:
                    import anyio

                    await anyio.to_thread.run_sync(owner.wait, self.remaining())
                else:
                    owner.wait(self.remaining())
            except GateTimeout as exc:
                raise RuntimeFailure(step, f"the task never started ({exc})") from None

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
                raise first_leaf(exc) from None
            return results
        from ctxprop_conformance.driver import step_without_loop

        return _run_in_threads(
            [lambda c=c: step_without_loop(c()) for c in callers],  # type: ignore[misc]
            self,
        )

    async def call_aside(self, probe: probes.Probe, *args: Any, step: str) -> Any:
        """``call`` from a copy of the caller's context, so nothing flows back here.

        Lets isolation checks submit a follow-up task "with V unset" even on an
        awaited-call runtime, where the first task's changes flow back (B1).
        """
        (result,) = await self.concurrently(lambda: self.call(probe, *args, step=step))
        return result

    async def call_raising_aside(self, probe: probes.Probe, *args: Any, step: str) -> Any:
        (raised,) = await self.concurrently(lambda: self.call_raising(probe, *args, step=step))
        return raised

    # -- the end of a check --------------------------------------------------------------

    def close_gates(self) -> None:
        """Release every task still held: they end at once (GateClosed)."""
        for owner in self._owned:
            owner.close()
        for ref in self._runner_refs:
            nested.unregister(ref)

    def unretrieved(self) -> list[Pending]:
        return [p for p in self._pending if not p.retrieved]


def _run_in_threads(bodies: list[Callable[[], T]], caller: Caller) -> list[T]:
    outcomes: list[tuple[bool, Any]] = [(False, None)] * len(bodies)

    def run(i: int) -> None:
        try:
            outcomes[i] = (True, bodies[i]())
        except BaseException as exc:  # handed back to the scenario below
            outcomes[i] = (False, exc)

    threads = [
        threading.Thread(
            target=contextvars.copy_context().run, args=(run, i), daemon=True, name="ctxprop-caller"
        )
        for i in range(len(bodies))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(caller.remaining() + 1.0)
        if t.is_alive():
            raise AdapterError(
                caller.progress.method,
                f"a concurrent caller is stuck in {caller.progress.describe()} "
                f"past the bound ({caller.timeout:g}s): hung",
            )
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]


def _unfinished_types() -> tuple[type[BaseException], ...]:
    """Timeouts and cancellations: on 3.10 the asyncio and futures ones are not builtins."""
    import asyncio
    import concurrent.futures

    return (
        TimeoutError,
        asyncio.TimeoutError,
        concurrent.futures.TimeoutError,
        asyncio.CancelledError,
        concurrent.futures.CancelledError,
    )
