"""SPEC section I: isolation between the caller, concurrent tasks and pooled workers."""

from __future__ import annotations

from typing import Any

from ctxprop_conformance import probes
from ctxprop_conformance.caller import Caller
from ctxprop_conformance.driver import Setup
from ctxprop_conformance.subject import RuntimeUnderTest
from pytest_ctxprop.adapter import can_submit

I2_TASKS = 50
I2_READS = 5


def test_I1_task_changes_stay_in_the_task(ctxprop_runtime: RuntimeUnderTest) -> None:
    ctxprop_runtime.require(ctxprop_runtime.traits.model == "copy", "model is not 'copy'")

    async def scenario(caller: Caller) -> dict[str, Any]:
        probes.V.set("caller")
        await caller.call(probes.SET_THEN_READ, {"V": "t", "W": "t"}, [], step="task sets V, W")
        return probes.observe_all(("V", "W"))

    seen = ctxprop_runtime.run("I1", scenario)
    expect = ctxprop_runtime.expect("I1")
    expect.step("caller reads V after the task set V=t", "caller", seen["V"])
    expect.step("caller reads W (never set by the caller)", probes.UNSET, seen["W"])
    expect.verify()


async def _i2_submitted(caller: Caller) -> list[Any]:
    """50 tasks submitted by one caller, each with its own V and dependency, then awaited."""
    handles = []
    for i in range(I2_TASKS):
        probes.V.set(i)
        probes.DEP.set(probes.Dependency(i))
        handles.append(await caller.submit(probes.DEPENDENCY_READS, I2_READS, step=f"I2 task {i}"))
    return [await caller.result(h) for h in handles]


async def _i2_called(caller: Caller) -> list[Any]:
    """A call-style runtime: 50 concurrent callers, each calling with its own V and dependency."""

    def one_caller(i: int) -> Any:
        async def body() -> Any:
            probes.V.set(i)
            probes.DEP.set(probes.Dependency(i))
            return await caller.call(probes.DEPENDENCY_READS, I2_READS, step=f"I2 task {i}")

        return body

    return await caller.concurrently(*(one_caller(i) for i in range(I2_TASKS)))


def test_I2_concurrent_tasks_keep_their_own_values(ctxprop_runtime: RuntimeUnderTest) -> None:
    submitted = can_submit(ctxprop_runtime.new_adapter())
    scenario = _i2_submitted if submitted else _i2_called
    seen = ctxprop_runtime.run("I2", scenario, Setup(workers=4))
    expect = ctxprop_runtime.expect("I2")
    if not submitted:
        expect.note(f"call-style runtime: driven by {I2_TASKS} concurrent callers")
    for i, reads in enumerate(seen):
        expect.step(
            f"task {i}: (V, dependency owner, same object) per read",
            [(i, i, True)] * I2_READS,
            reads,
        )
    expect.verify()


def test_I3_no_bleed_between_tasks_on_one_worker(ctxprop_runtime: RuntimeUnderTest) -> None:
    ctxprop_runtime.require(ctxprop_runtime.traits.reuses_workers, "does not reuse workers")

    async def scenario(caller: Caller) -> Any:
        await caller.call_aside(probes.SET_THEN_READ, {"V": "stale-auth-token"}, [],
                                step="task 1 sets V=stale-auth-token")  # fmt: skip
        return await caller.call(probes.READ, ["V"], step="task 2 reads V")

    seen = ctxprop_runtime.run("I3", scenario, Setup(workers=1))
    expect = ctxprop_runtime.expect("I3")
    expect.step("task 2 (after task 1 set V on the same worker) reads V", probes.UNSET, seen["V"])
    expect.verify()


def test_I4_raising_task_leaves_a_clean_worker(ctxprop_runtime: RuntimeUnderTest) -> None:
    message = "boom: I4 task failed"

    async def scenario(caller: Caller) -> tuple[BaseException, Any]:
        raised = await caller.call_raising_aside(
            probes.SET_THEN_RAISE, {"V": "from-failed-task"}, message,
            step="task sets V then raises",
        )  # fmt: skip
        return raised, await caller.call(probes.READ, ["V"], step="next task reads V")

    raised, seen = ctxprop_runtime.run("I4", scenario, Setup(workers=1))
    expect = ctxprop_runtime.expect("I4")
    expect.step("exception type the caller gets", "ProbeError", type(raised).__name__)
    expect.step("exception message the caller gets", message, str(raised))
    expect.step("next task on the worker reads V", probes.UNSET, seen["V"])
    expect.verify()


def test_I5_cancelled_task_leaves_a_clean_worker(ctxprop_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        started = caller.signal("I5: the task to cancel has started")
        gate = caller.gate("I5: task held until it is cancelled")
        handle = await caller.submit(
            probes.SET_THEN_BLOCK, {"V": "from-cancelled-task"}, started.address, gate.address,
            step="task sets V and blocks",
        )  # fmt: skip
        await caller.wait(started)
        await caller.cancel(handle, step="cancel the running task")
        return await caller.call(probes.READ, ["V"], step="next task reads V")

    seen = ctxprop_runtime.run("I5", scenario, Setup(workers=1, needs_submit=True,
                                                     needs_cancel=True))  # fmt: skip
    expect = ctxprop_runtime.expect("I5")
    expect.step("next task after a cancelled one reads V", probes.UNSET, seen["V"])
    expect.verify()


def test_I6_worker_ambient_value(ctxprop_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        probes.V.set("a")
        return await caller.call(probes.READ, ["V", "W"], step="task reads V and W")

    seen = ctxprop_runtime.run("I6", scenario, Setup(workers=1, worker_init=probes.set_ambient))
    expect = ctxprop_runtime.expect("I6")
    expect.step("task reads V", "a", seen["V"])
    expect.note(
        f"W set to 'w' at worker start; task saw W={seen['W']!r} "
        f"(documented rule: {ctxprop_runtime.traits.worker_ambient})"
    )
    expect.verify()
