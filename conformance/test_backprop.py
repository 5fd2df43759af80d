"""SPEC section B: back-propagation, for runtimes whose model is awaited-call."""

from __future__ import annotations

from typing import Any

import pytest

from ctxprop_conformance import probes
from ctxprop_conformance.caller import Caller
from ctxprop_conformance.driver import Setup
from ctxprop_conformance.subject import RuntimeUnderTest


@pytest.fixture
def awaited_runtime(ctxprop_runtime: RuntimeUnderTest) -> RuntimeUnderTest:
    ctxprop_runtime.require(
        ctxprop_runtime.traits.model == "awaited-call",
        "model=copy: nothing flows back to the caller",
    )
    return ctxprop_runtime


def test_B1_task_change_flows_back(awaited_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        probes.V.set("caller")
        await caller.call(probes.SET_THEN_READ, {"V": "t"}, [], step="task sets V=t")
        return probes.observe("V")

    seen = awaited_runtime.run("B1", scenario)
    expect = awaited_runtime.expect("B1")
    expect.step("caller reads V after awaiting a task that set V=t", "t", seen)
    expect.verify()


def test_B2_forward_only_var_does_not_flow_back(awaited_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> tuple[Any, Any]:
        probes.V.set("caller")
        in_task = await caller.call(probes.READ, ["V"], step="task reads forward-only V")
        await caller.call(probes.SET_THEN_READ, {"V": "t"}, [], step="task sets V=t")
        return in_task["V"], probes.observe("V")

    in_task, after = awaited_runtime.run("B2", scenario, Setup(forward_only=("V",)))
    expect = awaited_runtime.expect("B2")
    expect.step("a task reads forward-only V", "caller", in_task)
    expect.step("caller reads forward-only V after a task set V=t", "caller", after)
    expect.verify()


def test_B3_concurrent_callers_see_their_own_changes(awaited_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> list[Any]:
        def awaiting_caller(i: int) -> Any:
            async def body() -> Any:
                probes.V.set(f"caller-{i}")
                await caller.call(probes.SET_THEN_READ, {"V": f"task-{i}"}, [],
                                  step=f"caller {i}'s task sets V=task-{i}")  # fmt: skip
                return probes.observe("V")

            return body

        return await caller.concurrently(awaiting_caller(0), awaiting_caller(1))

    seen = awaited_runtime.run("B3", scenario)
    expect = awaited_runtime.expect("B3")
    for i, observed in enumerate(seen):
        expect.step(f"caller {i} reads V after awaiting its own task", f"task-{i}", observed)
    expect.verify()


def test_B4_unbound_var_flows_back(awaited_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        in_task = await caller.call(probes.SET_THEN_UNSET, "V", "t", step="task sets, resets V")
        return in_task["V"], probes.observe("V")

    in_task, seen = awaited_runtime.run("B4", scenario)
    expect = awaited_runtime.expect("B4")
    expect.step("task reads V after resetting it to no value", probes.UNSET, in_task)
    expect.step("caller reads V after awaiting", probes.UNSET, seen)
    expect.verify()


def test_B5_changes_of_a_raising_task(awaited_runtime: RuntimeUnderTest) -> None:
    message = "boom: B5 task failed"

    async def scenario(caller: Caller) -> tuple[BaseException, Any]:
        probes.V.set("caller")
        raised = await caller.call_raising(probes.SET_THEN_RAISE, {"V": "t"}, message,
                                           step="task sets V=t then raises")  # fmt: skip
        return raised, probes.observe("V")

    raised, seen = awaited_runtime.run("B5", scenario)
    expect = awaited_runtime.expect("B5")
    expect.step("exception type the caller catches", "ProbeError", type(raised).__name__)
    expect.step("exception message the caller catches", message, str(raised))
    expect.step("caller's V is its own or the task's", True, seen in ("caller", "t"))
    rule = {"t": "kept", "caller": "dropped"}.get(seen, f"neither ({seen!r})")
    expect.note(
        f"changes of the raising task were {rule} "
        f"(documented rule: {awaited_runtime.traits.error_changes})"
    )
    expect.verify()
