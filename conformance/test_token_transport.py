"""SPEC section T, across the boundary (T11-T16): tokens passed to and from tasks.

The token var is :data:`ctxprop_conformance.token_probe_vars.TV`, a reference
ContextVar whose tokens travel by the ctxprop wire hook; the runtime carries
them as task arguments, results and exception arguments.
"""

from __future__ import annotations

from typing import Any

import pytest

from ctxprop_conformance import probes
from ctxprop_conformance.caller import Caller
from ctxprop_conformance.driver import Setup
from ctxprop_conformance.subject import RuntimeUnderTest
from ctxprop_conformance.token_probe_vars import TV
from ctxprop_reference import vars as reference_vars

T16_ITEMS = 10_000
T16_BATCH = 1_000
_USED = "has already been used once"
_OTHER_CONTEXT = "was created in a different Context"


@pytest.fixture
def token_runtime(ctxprop_runtime: RuntimeUnderTest) -> RuntimeUnderTest:
    ctxprop_runtime.require(
        ctxprop_runtime.traits.token_transport, "token_transport=False: tokens do not travel"
    )
    return ctxprop_runtime


def _reset_here(token: Any) -> str:
    try:
        TV.reset(token)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _kind(outcome: str) -> str:
    """An outcome without the token's repr (it holds an address): 'ok' or 'Type: ...<tail>'."""
    for tail in (_USED, _OTHER_CONTEXT):
        if outcome.endswith(tail):
            return f"{outcome.split(':', 1)[0]}: ... {tail}"
    return outcome


def test_T11_single_use_across_the_boundary(token_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> tuple[Any, str]:
        token = TV.set("x")
        in_task = await caller.call(probes.RESET_TOKENS, [token], step="task resets the token")
        return in_task[0], _reset_here(token)

    in_task, after = token_runtime.run("T11", scenario)
    expect = token_runtime.expect("T11")
    expect.step("the task resets the caller's token", "ok", _kind(in_task))
    expect.step("the caller resets it afterwards", f"RuntimeError: ... {_USED}", _kind(after))
    expect.verify()


def _sibling_token() -> Any:
    return reference_vars.copy_context().run(TV.set, "sibling")


def test_T12_sibling_token_travels(token_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> tuple[Any, Any, str]:
        token = _sibling_token()
        back = await caller.call_raw(probes.RETURN_TOKEN, token, step="task inspects the token")
        returned = back["token"]
        return token, returned, _reset_here(returned)

    sent, returned, reset = token_runtime.run("T12", scenario)
    expect = token_runtime.expect("T12")
    expect.step("the token that comes back is the one sent", True, returned is sent)
    expect.step("it is still unused", False, bool(getattr(returned, "_used", True)))
    expect.step("an explicit reset here raises", f"ValueError: ... {_OTHER_CONTEXT}", _kind(reset))
    expect.verify()


def test_T13_sibling_token_reset_in_the_task(token_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> Any:
        TV.set("caller")  # TV has a value here too: the task gets one, but not the sibling's
        token = _sibling_token()
        (outcome,) = await caller.call(probes.RESET_TOKENS, [token], step="task resets it")
        return outcome

    outcome = token_runtime.run("T13", scenario)
    expect = token_runtime.expect("T13")
    expect.step("the task's reset of a sibling token", f"ValueError: ... {_OTHER_CONTEXT}",
                _kind(outcome))  # fmt: skip
    expect.verify()


def test_T14_returned_token_resets_in_the_caller(token_runtime: RuntimeUnderTest) -> None:
    token_runtime.require(
        token_runtime.traits.model == "awaited-call", "model=copy: the task's set stays there"
    )

    async def scenario(caller: Caller) -> tuple[Any, str, Any]:
        TV.set("before")
        back = await caller.call_raw(probes.SET_AND_RETURN_TOKEN, "t", step="task sets TV")
        during = TV.get("<unset>")
        outcome = _reset_here(back["token"])
        return during, outcome, TV.get("<unset>")

    during, outcome, after = token_runtime.run("T14", scenario)
    expect = token_runtime.expect("T14")
    expect.step("caller reads TV after awaiting", "t", during)
    expect.step("caller resets the token the task returned", "ok", _kind(outcome))
    expect.step("TV after the reset (its pre-call value)", "before", after)
    expect.verify()


def test_T15_token_inside_an_exception(token_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> tuple[str, Any, list[str]]:
        TV.set("before")
        sent = TV.set("x")
        raised = await caller.call_raising(probes.RAISE_WITH_TOKEN, sent, step="task raises")
        carried = [a for a in getattr(raised, "args", ()) if type(a) is reference_vars.Token]
        if not carried:
            return type(raised).__name__, None, []
        return type(raised).__name__, carried[0], [_reset_here(carried[0]), _reset_here(carried[0])]

    raised, token, outcomes = token_runtime.run("T15", scenario)
    expect = token_runtime.expect("T15")
    expect.step("the exception the caller catches", "TokenCarrier", raised)
    expect.step("it carries the token", True, token is not None)
    if outcomes:
        expect.step("first reset", "ok", _kind(outcomes[0]))
        expect.step("second reset", f"RuntimeError: ... {_USED}", _kind(outcomes[1]))
    expect.verify()


def test_T16_used_token_record_stays_bounded(token_runtime: RuntimeUnderTest) -> None:
    async def scenario(caller: Caller) -> tuple[list[int], list[str]]:
        sizes, bad = [], []
        for start in range(0, T16_ITEMS, T16_BATCH):
            tokens = [TV.set(i) for i in range(start, start + T16_BATCH)]
            outcomes = await caller.call(probes.RESET_TOKENS, tokens,
                                         step=f"task resets tokens {start}..")  # fmt: skip
            bad += [o for o in outcomes if o != "ok"][:1]
            del tokens
            sizes.append(caller.token_record_size())
        return sizes, bad

    sizes, bad = token_runtime.run("T16", scenario, Setup(needs_token_record=True))
    expect = token_runtime.expect("T16")
    expect.step(f"{T16_ITEMS} tokens reset across the boundary", [], bad)
    expect.step(f"record size after each batch of {T16_BATCH} stays within a batch", True,
                max(sizes) <= T16_BATCH)  # fmt: skip
    expect.note(f"record sizes after each batch: {sizes}")
    expect.verify()
