"""SPEC section I: isolation between the caller, concurrent tasks and pooled workers."""

from __future__ import annotations

from typing import Any

from ctxprop_conformance import probes
from ctxprop_conformance.driver import Caller, Setup
from ctxprop_conformance.subject import RuntimeUnderTest

I2_TASKS = 50
I2_READS = 5


def test_I1_task_changes_stay_in_the_task(ctxprop_runtime: RuntimeUnderTest) -> None:
    ctxprop_runtime.require(ctxprop_runtime.traits.model == "copy", "model is not 'copy'")

    async def scenario(caller: Caller) -> dict[str, Any]:
        probes.V.set("caller")
        await caller.call(probes.SET_THEN_READ, {"V": "t", "W": "t"}, ())
        return probes.observe_all(("V", "W"))

    seen = ctxprop_runtime.run(scenario)
    expect = ctxprop_runtime.expect("I1")
    expect.step("caller reads V after the task set V=t", "caller", seen["V"])
    expect.step("caller reads W (never set by the caller)", probes.UNSET, seen["W"])
    expect.verify()


def test_I2_concurrent_tasks_keep_their_own_values(ctxprop_runtime: RuntimeUnderTest) -> None:
    ctxprop_runtime.require(
        ctxprop_runtime.traits.vars_travel != "none",
        "vars_travel=none: the runtime carries no vars",
    )

    async def scenario(caller: Caller) -> list[Any]:
        handles = []
        for i in range(I2_TASKS):
            probes.V.set(i)
            probes.DEP.set(probes.Dependency(i))
            handles.append(await caller.submit(probes.DEPENDENCY_READS, I2_READS))
        return [await caller.result(h) for h in handles]

    seen = ctxprop_runtime.run(scenario, Setup(workers=4))
    expect = ctxprop_runtime.expect("I2")
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
        await caller.call_aside(probes.SET_THEN_READ, {"V": "stale-auth-token"}, ())
        return await caller.call(probes.READ, ("V",))

    seen = ctxprop_runtime.run(scenario, Setup(workers=1))
    expect = ctxprop_runtime.expect("I3")
    expect.step("task 2 (after task 1 set V on the same worker) reads V", probes.UNSET, seen["V"])
    expect.verify()


def test_I4_raising_task_leaves_a_clean_worker(ctxprop_runtime: RuntimeUnderTest) -> None:
    message = "boom: I4 task failed"

    async def scenario(caller: Caller) -> tuple[BaseException | None, Any]:
        raised: BaseException | None = None
        try:
            await caller.call_aside(probes.SET_THEN_RAISE, {"V": "from-failed-task"}, message)
        except Exception as exc:
            raised = exc
        return raised, await caller.call(probes.READ, ("V",))

    raised, seen = ctxprop_runtime.run(scenario, Setup(workers=1))
    expect = ctxprop_runtime.expect("I4")
    expect.step("exception type the caller gets", "ProbeError", type(raised).__name__)
    expect.step("exception message the caller gets", message, str(raised))
    expect.step("next task on the worker reads V", probes.UNSET, seen["V"])
    expect.verify()


def test_I5_cancelled_task_leaves_a_clean_worker(ctxprop_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        started, gate = caller.signal(), caller.gate()
        handle = await caller.submit(
            probes.SET_THEN_BLOCK, {"V": "from-cancelled-task"}, started.signal, gate.gate
        )
        await caller.wait(started)
        await caller.cancel(handle)
        return await caller.call(probes.READ, ("V",))

    seen = ctxprop_runtime.run(scenario, Setup(workers=1))
    expect = ctxprop_runtime.expect("I5")
    expect.step("next task after a cancelled one reads V", probes.UNSET, seen["V"])
    expect.verify()


def test_I6_worker_ambient_value(ctxprop_runtime: RuntimeUnderTest) -> None:
    ctxprop_runtime.require(
        ctxprop_runtime.traits.vars_travel != "none",
        "vars_travel=none: the runtime carries no vars",
    )

    async def scenario(caller: Caller) -> Any:
        probes.V.set("a")
        return await caller.call(probes.READ, ("V", "W"))

    seen = ctxprop_runtime.run(scenario, Setup(workers=1, worker_init=probes.set_ambient))
    expect = ctxprop_runtime.expect("I6")
    expect.step("task reads V", "a", seen["V"])
    expect.note(
        f"W set to 'w' at worker start; task saw W={seen['W']!r} "
        f"(documented rule: {ctxprop_runtime.traits.worker_ambient})"
    )
    expect.verify()
