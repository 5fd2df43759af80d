"""The driver's half of adapter contract v2: lifecycle order, call style, async lifespan.

Scenarios run in-process through :class:`RuntimeUnderTest`, exactly as the
conformance tests run them, against small adapters defined here.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import pytest

from ctxprop_conformance import gates, probe_vars, probes
from ctxprop_conformance.caller import Caller
from ctxprop_conformance.driver import Setup
from ctxprop_conformance.subject import RuntimeUnderTest
from pytest_ctxprop._verdicts import NotApplicable
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    RuntimeAdapter,
    Traits,
    WorkerInit,
    contract_problems,
)


class Recording(RuntimeAdapter):
    """A correct pool that records every contract call, in order."""

    traits: ClassVar[Traits] = Traits(vars_travel="registered", reuses_workers=True)
    log: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self.log.append("construct")

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        self.log.append("register")

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.log.append("start")
        self.pool = ThreadPoolExecutor(workers)

    def stop(self) -> None:
        self.log.append("stop")
        self.pool.shutdown()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        self.log.append("submit")
        return self.pool.submit(contextvars.copy_context().run, fn, *args)

    def result(self, handle: Future[Any], timeout: float) -> Any:
        self.log.append("result")
        return handle.result(timeout)


def _runtime(factory: Callable[[], Any], timeout: float = 10.0) -> RuntimeUnderTest:
    return RuntimeUnderTest("under-test", factory, factory.traits, timeout)  # type: ignore[attr-defined]


async def _read_v(caller: Caller) -> Any:
    probes.V.set("a")
    return await caller.call(probes.READ, ["V"], step="task reads V")


def test_lifecycle_order_is_construct_register_start_calls_stop() -> None:
    Recording.log.clear()
    assert _runtime(Recording).run("F1", _read_v) == {"V": "a"}
    registered = ["register"] * len(probes.REGISTERED)
    assert Recording.log == ["construct", *registered, "start", "submit", "result", "stop"]


class BlockingCall(RuntimeAdapter):
    """Call-style only: the task runs inside call()."""

    traits: ClassVar[Traits] = Traits()

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = ThreadPoolExecutor(workers)

    def stop(self) -> None:
        self.pool.shutdown()

    def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        return self.pool.submit(contextvars.copy_context().run, fn, *args).result(timeout)


def test_call_style_adapter_is_driven_through_call() -> None:
    assert contract_problems(BlockingCall()) == []
    assert _runtime(BlockingCall).run("F1", _read_v) == {"V": "a"}


def test_property_needing_submit_is_na_for_call_style_before_start() -> None:
    started: list[bool] = []

    class Watched(BlockingCall):
        def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
            started.append(True)
            super().start(workers=workers, worker_init=worker_init)

    with pytest.raises(NotApplicable, match="call-style adapter"):
        _runtime(Watched).run("F2", _read_v, Setup(needs_submit=True))
    assert started == []


def test_adapter_with_neither_submit_nor_call_is_refused() -> None:
    class Nothing(RuntimeAdapter):
        def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
            pass

        def stop(self) -> None:
            pass

    assert contract_problems(Nothing()) == [
        "it implements neither submit() and result() nor call()"
    ]


class TrioNursery(AsyncRuntimeAdapter):
    """Holds a trio nursery from start to stop through lifespan(): structured concurrency."""

    backend: ClassVar[str] = "trio"
    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = Traits()

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        raise AssertionError("lifespan() replaces start()")

    async def stop(self) -> None:
        raise AssertionError("lifespan() replaces stop()")

    @asynccontextmanager
    async def lifespan(
        self, *, workers: int, worker_init: WorkerInit | None = None
    ) -> AsyncIterator[None]:
        import trio

        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            yield
            nursery.cancel_scope.cancel()

    async def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        import trio

        send, receive = trio.open_memory_channel[Any](1)

        async def task() -> None:
            await send.send(await fn(*args))

        # a child of the nursery: it copies the caller's context now (trio's rule)
        self.nursery.start_soon(task)
        with trio.fail_after(timeout):
            return await receive.receive()


def test_async_lifespan_holds_a_trio_nursery_for_the_whole_check() -> None:
    assert _runtime(TrioNursery).run("F1", _read_v) == {"V": "a"}


def test_start_values_reach_workers_but_not_the_caller() -> None:
    """F7's setup: the pool is created under V=c, the caller starts with V unset."""

    async def caller_v(caller: Caller) -> Any:
        return probes.observe("V")

    assert _runtime(TrioNursery).run("F7", caller_v, Setup(start_values={"V": "c"})) is (
        probes.UNSET
    )


def test_probe_arguments_and_results_are_json() -> None:
    """Everything a scenario passes to a task, and what tasks return, survives JSON."""
    seen: list[str] = []

    class JsonWire(Recording):
        def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
            seen.append(json.dumps([probes.task_name(fn), args]))
            name, wire_args = json.loads(seen[-1])
            ctx = contextvars.copy_context()
            return self.pool.submit(ctx.run, probes.run_probe, name, *wire_args)

        def result(self, handle: Future[Any], timeout: float) -> Any:
            return json.loads(json.dumps(handle.result(timeout)))

    async def gated(caller: Caller) -> Any:
        gate = caller.gate("JSON test gate")
        probes.V.set("a")
        handle = await caller.submit(probes.HOLD_THEN_READ, gate.address, ["V"], step="held")
        gate.open()
        return await caller.result(handle)

    assert _runtime(JsonWire).run("F2", gated) == {"V": "a"}
    assert "ctxprop_conformance.probes:task_hold_then_read" in seen[0]


def test_run_probe_refuses_names_that_are_not_probe_tasks() -> None:
    with pytest.raises(LookupError, match="is not a ctxprop probe task"):
        probes.run_probe("os:system", "true")


def test_every_probe_var_is_a_module_attribute_named_by_its_name() -> None:
    for var in probes.VARS.values():
        module, _, attribute = var.name.partition(":")
        assert module == "ctxprop_conformance.probe_vars"
        assert getattr(probe_vars, attribute) is var


def test_gate_timeout_names_the_step_and_the_bound() -> None:
    owner = gates.GateOwner("F2: task held at a gate while the caller sets V=b", 0.2)
    try:
        with pytest.raises(gates.GateTimeout) as raised:
            gates.wait_sync(owner.address)
    finally:
        owner.close()
    assert str(raised.value) == (
        "F2: task held at a gate while the caller sets V=b: the gate was not opened within 0.2s"
    )
    assert "127.0.0.1" not in str(raised.value)


def test_closing_a_gate_releases_its_waiter_at_once() -> None:
    owner = gates.GateOwner("held", 30.0)
    outcome: Future[BaseException | None] = Future()

    def wait() -> None:
        try:
            gates.wait_sync(owner.address)
        except BaseException as exc:
            outcome.set_result(exc)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(wait)
        owner.close()
        assert isinstance(outcome.result(10), gates.GateClosed)
