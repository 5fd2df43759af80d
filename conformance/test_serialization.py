"""SPEC section S: serialization, for runtimes whose tasks cross a process boundary."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ctxprop_conformance import probes
from ctxprop_conformance.caller import Attempt, Caller
from ctxprop_conformance.driver import Setup
from ctxprop_conformance.expect import Expect
from ctxprop_conformance.subject import RuntimeUnderTest


@pytest.fixture
def crossing_runtime(ctxprop_runtime: RuntimeUnderTest) -> RuntimeUnderTest:
    ctxprop_runtime.require(
        ctxprop_runtime.traits.crosses_process, "crosses_process=False: nothing is serialized"
    )
    return ctxprop_runtime


def _names(text: str, needle: str) -> bool:
    return needle in text


def test_S1_serialized_values_survive(crossing_runtime: RuntimeUnderTest) -> None:
    closures = crossing_runtime.new_adapter().capabilities.closures
    values = {f"F4.{n}": v for n, v in probes.F4_VALUES.items()}
    values |= {f"S1.{n}": v for n, v in probes.S1_VALUES.items()}

    async def scenario(caller: Caller) -> tuple[Any, Any]:
        for name, value in values.items():
            probes.VARS[name].set(value)
        if closures:
            probes.S1_closure.set(probes.make_closure("hello"))
        seen = await caller.call(probes.READ, list(values), step="task reads every S1 var")
        called = None
        if closures:
            called = await caller.call(probes.CALL_CLOSURE, "S1.closure", step="task calls it")
        return seen, called

    seen, called = crossing_runtime.run("S1", scenario)
    expect = crossing_runtime.expect("S1")
    for name, value in values.items():
        expect.step(f"task reads {name} ({type(value).__name__})", value, seen[name])
    if closures:
        expect.step("task calls the closure it was sent", "hello from a closure", called)
    else:
        expect.note("no closure sent: the runtime does not claim cloudpickle")
    expect.verify()


def test_S2_unserializable_value_is_not_silently_dropped(
    crossing_runtime: RuntimeUnderTest,
) -> None:
    async def scenario(caller: Caller) -> Attempt:
        probes.V.set("a")
        probes.UNSERIALIZABLE.set(threading.Lock())
        return await caller.attempt(probes.READ, ["V", "UNSERIALIZABLE"],
                                    step="submit with UNSERIALIZABLE set to a lock")  # fmt: skip

    outcome = crossing_runtime.run("S2", scenario)
    expect = crossing_runtime.expect("S2")
    warned = [w for w in outcome.warnings if _names(w, "UNSERIALIZABLE")]
    if outcome.raised is not None:
        message = f"{type(outcome.raised).__name__}: {outcome.raised}"
        expect.step(
            "the error at submit names UNSERIALIZABLE", True, _names(message, "UNSERIALIZABLE")
        )
        expect.note(f"refused at submit: {message[:200]}")
    elif warned:
        expect.step(
            "the task sees the dropped var unset", probes.UNSET, outcome.value["UNSERIALIZABLE"]
        )
        expect.step("the task still sees V", "a", outcome.value["V"])
        expect.note(f"dropped with a warning: {warned[0][:200]}")
    else:
        seen = outcome.value["UNSERIALIZABLE"]
        expect.step("an error or a warning naming UNSERIALIZABLE", "one of them",
                    _Silent(f"neither; the task saw UNSERIALIZABLE={seen!r}"))  # fmt: skip
    expect.verify()


class _Silent:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _next_task_runs(expect: Expect, after: Any) -> None:
    expect.step("the next task (V=b) reads V: the worker survived", "b", after["V"])


def test_S3_missing_or_bad_snapshot(crossing_runtime: RuntimeUnderTest) -> None:
    required = crossing_runtime.new_adapter().capabilities.snapshot_required
    faults = ("missing", "expired", "malformed")

    async def scenario(caller: Caller) -> list[tuple[str, Attempt, list[str], Any]]:
        access = caller.snapshot_access()
        out = []
        for fault in faults:
            before = len(access.warnings())
            access.corrupt_next(fault)  # type: ignore[arg-type]
            probes.V.set("a")
            got = await caller.attempt(probes.READ, ["V"], step=f"task whose snapshot is {fault}")
            warned = access.warnings()[before:]
            probes.V.set("b")
            after = await caller.call(probes.READ, ["V"], step="the next task reads V")
            out.append((fault, got, warned, after))
        return out

    runs = crossing_runtime.run("S3", scenario, Setup(needs_snapshot_access=True))
    expect = crossing_runtime.expect("S3")
    for fault, got, warned, after in runs:
        if required:
            expect.step(
                f"{fault} snapshot (required): the task fails closed", True, got.raised is not None
            )
        else:
            expect.step(f"{fault} snapshot: the task runs (no error)", None, _err(got))
            expect.step(f"{fault} snapshot: the task's V", probes.UNSET, (got.value or {}).get("V"))
            expect.step(f"{fault} snapshot: a worker warning about it", True, bool(warned))
            if warned:
                expect.note(f"{fault}: {warned[0][:160]}")
        _next_task_runs(expect, after)
    expect.verify()


def _err(got: Attempt) -> Any:
    return None if got.raised is None else _Silent(f"{type(got.raised).__name__}: {got.raised}")


def test_S4_tampered_snapshot_rejected(crossing_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> list[tuple[str, Attempt, bool, Any]]:
        access = caller.snapshot_access()
        out = []
        for fault in ("tampered", "foreign"):
            ran = caller.signal(f"S4: code from a {fault} payload ran")
            payload = probes.foreign_payload(ran.address) if fault == "foreign" else None
            access.corrupt_next(fault, payload)  # type: ignore[arg-type]
            probes.V.set("a")
            got = await caller.attempt(probes.READ, ["V"], step=f"task whose snapshot is {fault}")
            probes.V.set("b")
            after = await caller.call(probes.READ, ["V"], step="the next task reads V")
            out.append((fault, got, ran.fired_now(), after))
        return out

    runs = crossing_runtime.run("S4", scenario, Setup(needs_snapshot_access=True))
    expect = crossing_runtime.expect("S4")
    for fault, got, code_ran, after in runs:
        expect.step(f"{fault} snapshot: the caller gets an error", True, got.raised is not None)
        expect.step(
            f"{fault} snapshot: the error says why", True, bool(got.raised and str(got.raised))
        )
        expect.step(f"{fault} snapshot: code from the payload ran", False, code_ran)
        if got.raised is not None:
            expect.note(f"{fault}: {type(got.raised).__name__}: {str(got.raised)[:160]}")
        _next_task_runs(expect, after)
    expect.verify()


def test_S5_default_only_var_is_not_shipped(crossing_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> tuple[Any, Any]:
        probes.V.set("a")
        has = await caller.call(probes.CONTEXT_HAS, ["D", "V"], step="task looks into its context")
        seen = await caller.call(probes.READ, ["D"], step="task reads D")
        return has, seen

    has, seen = crossing_runtime.run("S5", scenario)
    expect = crossing_runtime.expect("S5")
    expect.step("D (only at its default in the caller) is in the task's context", False, has["D"])
    expect.step("the task reads D's default", "D-default", seen["D"])
    expect.note(f"V (set by the caller) {'is' if has['V'] else 'is not'} in the task's context")
    expect.verify()


def test_S6_var_the_worker_cannot_import(crossing_runtime: RuntimeUnderTest) -> None:
    local = probes.local_var()

    async def scenario(caller: Caller) -> tuple[Attempt, list[str]]:
        registered = [f"{type(e).__name__}: {e}" for e in caller.register_errors]
        probes.V.set("a")
        local.set("x")
        got = await caller.attempt(probes.READ, ["V"], step="submit with a local var set")
        return got, registered

    got, registered = crossing_runtime.run("S6", scenario, Setup(register_also=(local,)))
    expect = crossing_runtime.expect("S6")
    said = (
        registered
        + got.warnings
        + ([f"{type(got.raised).__name__}: {got.raised}"] if got.raised else [])
    )
    naming = [text for text in said if _names(text, "S6_LOCAL_VAR")]
    expect.step("an error or a warning names the local var", True, bool(naming))
    if naming:
        how = (
            "error at register()"
            if registered
            else ("error at submit" if got.raised else "warning")
        )
        expect.note(f"{how}: {naming[0][:200]}")
    expect.verify()
