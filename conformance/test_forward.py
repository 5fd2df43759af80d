"""SPEC section F: forward propagation, caller context -> task."""

from __future__ import annotations

from typing import Any

from ctxprop_conformance import probes
from ctxprop_conformance.caller import Caller
from ctxprop_conformance.driver import Setup
from ctxprop_conformance.subject import RuntimeUnderTest
from pytest_ctxprop.adapter import AsyncRuntimeAdapter


def test_F1_caller_value_reaches_task(ctxprop_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        probes.V.set("a")
        return await caller.call(probes.READ, ["V"], step="task reads V")

    seen = ctxprop_runtime.run("F1", scenario)
    expect = ctxprop_runtime.expect("F1")
    expect.step("task reads V", "a", seen["V"])
    expect.verify()


def test_F2_capture_at_submit(ctxprop_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        gate = caller.gate("F2: task held at a gate while the caller sets V=b")
        probes.V.set("a")
        handle = await caller.submit(probes.HOLD_THEN_READ, gate.address, ["V"],
                                     step="F2 task held at a gate")  # fmt: skip
        probes.V.set("b")
        gate.open()
        return await caller.result(handle)

    seen = ctxprop_runtime.run("F2", scenario, Setup(needs_submit=True))
    expect = ctxprop_runtime.expect("F2")
    expect.step("task (held at a gate while the caller set V=b) reads V", "a", seen["V"])
    expect.verify()


def test_F3_unset_and_reset_vars(ctxprop_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> tuple[Any, Any]:
        never_set = await caller.call(probes.READ, ["V", "D"], step="task reads V and D")
        token = probes.V.set("x")
        probes.V.reset(token)
        after_reset = await caller.call(probes.READ, ["V"], step="task reads a reset V")
        return never_set, after_reset

    never_set, after_reset = ctxprop_runtime.run("F3", scenario)
    expect = ctxprop_runtime.expect("F3")
    expect.step("V never set (no default): task's V.get()", probes.UNSET, never_set["V"])
    expect.step("D never set (has a default): task's D.get()", "D-default", never_set["D"])
    expect.step("V set then reset in the caller: task's V.get()", probes.UNSET, after_reset["V"])
    expect.verify()


def test_F4_value_types_survive(ctxprop_runtime: RuntimeUnderTest) -> None:
    names = [f"F4.{name}" for name in probes.F4_VALUES]

    async def scenario(caller: Caller) -> Any:
        for name, value in probes.F4_VALUES.items():
            probes.F4_VARS[name].set(value)
        return await caller.call(probes.READ, names, step="task reads the 20 F4 vars")

    seen = ctxprop_runtime.run("F4", scenario)
    expect = ctxprop_runtime.expect("F4")
    for name, value in probes.F4_VALUES.items():
        expect.step(f"task reads {name} ({type(value).__name__})", value, seen[f"F4.{name}"])
    expect.verify()


def test_F5_plain_helper_reads_the_var(ctxprop_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        probes.V.set("a")
        return await caller.call(probes.HELPER_READ, step="task calls a plain helper")

    seen = ctxprop_runtime.run("F5", scenario)
    expect = ctxprop_runtime.expect("F5")
    expect.step("helper called by the task reads V", "a", seen)
    expect.verify()


def test_F6_nested_submit(ctxprop_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        probes.V.set("a")
        runner = caller.nested_runner()
        return await caller.call(probes.SET_THEN_NESTED_READ, runner, {"V": "b"}, ["V"],
                                 step="task sets V=b, submits a nested task and waits")  # fmt: skip

    seen = ctxprop_runtime.run("F6", scenario, Setup(workers=3, min_workers=2))
    expect = ctxprop_runtime.expect("F6")
    expect.step("nested task (submitted after the task set V=b) reads V", "b", seen["V"])
    expect.verify()


def test_F7_pooled_worker_creator_value(ctxprop_runtime: RuntimeUnderTest) -> None:
    ctxprop_runtime.require(ctxprop_runtime.traits.reuses_workers, "no pooled workers")

    async def scenario(caller: Caller) -> Any:
        probes.V.set("a")
        return await caller.call(probes.READ, ["V"], step="task reads V")

    seen = ctxprop_runtime.run("F7", scenario, Setup(start_values={"V": "c"}))
    expect = ctxprop_runtime.expect("F7")
    expect.step("task of a pool created under V=c reads V", "a", seen["V"])
    expect.verify()


def test_F8_async_offload_of_sync_callable(ctxprop_runtime: RuntimeUnderTest) -> None:
    adapter = ctxprop_runtime.new_adapter()
    ctxprop_runtime.require(
        adapter.task_kind == "sync" and isinstance(adapter, AsyncRuntimeAdapter),
        "not an async API that offloads sync callables",
    )
    values = ("a", "b", "c")

    async def scenario(caller: Caller) -> list[Any]:
        def awaiting_caller(value: str) -> Any:
            async def body() -> Any:
                probes.V.set(value)
                return await caller.call(
                    probes.READ, ["V"], step=f"callable awaited with V={value}"
                )

            return body

        return await caller.concurrently(*(awaiting_caller(v) for v in values))

    seen = ctxprop_runtime.run("F8", scenario, Setup(workers=3))
    expect = ctxprop_runtime.expect("F8")
    for value, observed in zip(values, seen, strict=True):
        expect.step(
            f"callable awaited by the caller with V={value!r} reads V", value, observed["V"]
        )
    expect.verify()


def test_F9_unregistered_var_does_not_travel(ctxprop_runtime: RuntimeUnderTest) -> None:
    ctxprop_runtime.require(
        ctxprop_runtime.traits.vars_travel == "registered", "vars_travel is not 'registered'"
    )

    async def scenario(caller: Caller) -> Any:
        probes.V.set("a")
        probes.U.set("leak")
        return await caller.call(probes.READ, ["V", "U"], step="task reads V and U")

    seen = ctxprop_runtime.run("F9", scenario)
    expect = ctxprop_runtime.expect("F9")
    expect.step("task reads registered V", "a", seen["V"])
    expect.step("task reads unregistered U (caller set 'leak')", "U-default", seen["U"])
    expect.verify()
