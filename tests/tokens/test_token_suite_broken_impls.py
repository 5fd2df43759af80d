"""Proof that the token suite catches real bugs: each flaw fails its named T property,
and TP finds each one on its own.  The faithful variant (same code, no flaw) passes
everything, so a failure is the flaw's doing.
"""

from __future__ import annotations

import contextlib
import contextvars
import re

import broken_contextvars as broken
import pytest
import reproducers
from hypothesis import Phase, settings

from ctxprop_conformance import test_tokens
from ctxprop_conformance.test_token_parity import run_parity_machine
from pytest_ctxprop._selection import ContextvarsImpl
from pytest_ctxprop._verdicts import PropertyViolation

T_CHECKS = {
    name.split("_")[1]: check
    for name, check in vars(test_tokens).items()
    if name.startswith("test_T") and callable(check)
}
# Finding is cheap; shrinking is what costs.  These tests prove the finding;
# test_TP_reproducer_is_short_and_replays proves the shrinking once.
FIND_ONLY = settings(
    max_examples=100,
    stateful_step_count=20,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
SHRINK = settings(FIND_ONLY, phases=list(Phase))


def selected(flaw: str) -> ContextvarsImpl:
    return ContextvarsImpl(f"broken[{flaw}]", broken.make(flaw))


@pytest.mark.parametrize("flaw", sorted(broken.CAUGHT_BY))
def test_named_property_catches_the_flaw(flaw: str) -> None:
    property_id = broken.CAUGHT_BY[flaw]
    with pytest.raises(PropertyViolation) as caught:
        T_CHECKS[property_id](selected(flaw))
    message = str(caught.value)
    assert message.startswith(f"{property_id} violated by broken[{flaw}]: "), message
    assert "\n  expected: " in message, message
    assert "\n  observed: " in message, message


@pytest.mark.parametrize("flaw", sorted(broken.CAUGHT_BY))
def test_TP_catches_the_flaw_on_its_own(flaw: str) -> None:
    with pytest.raises(PropertyViolation, match=rf"^TP violated by broken\[{flaw}\]: "):
        run_parity_machine(selected(flaw), FIND_ONLY)


@pytest.mark.parametrize("property_id", sorted(T_CHECKS))
def test_faithful_variant_passes_every_T_property(property_id: str) -> None:
    with contextlib.suppress(pytest.skip.Exception):  # T10 is n/a before 3.14
        T_CHECKS[property_id](selected(broken.FAITHFUL))


def test_faithful_variant_passes_TP() -> None:
    run_parity_machine(selected(broken.FAITHFUL), FIND_ONLY)


@pytest.mark.parametrize(
    ("flaw", "observed"),
    [
        (broken.WRONG_USED_MESSAGE, "raised RuntimeError: <tok> was already used"),
        (broken.WRONG_OLD_VALUE, "returned 'a'"),
        (broken.PICKLABLE_TOKEN, "returned normally: the token was copied"),
        (broken.PICKLE_REFUSED_WITH_VALUE_ERROR, "raised ValueError: tokens cannot be pickled"),
        (
            broken.REJECTED_RESET_MARKS_USED,
            "raised RuntimeError: <tok> has already been used once",
        ),
        (
            broken.VAR_CHECKED_BEFORE_USED,
            "raised ValueError: <used> was created by a different ContextVar",
        ),
    ],
)
def test_violation_shows_what_the_implementation_did(flaw: str, observed: str) -> None:
    with pytest.raises(PropertyViolation) as caught:
        T_CHECKS[broken.CAUGHT_BY[flaw]](selected(flaw))
    assert f"\n  observed: {observed}" in str(caught.value), str(caught.value)


@pytest.mark.parametrize(
    ("flaw", "longest"),
    [(broken.WRONG_OLD_VALUE, 4), (broken.PICKLABLE_TOKEN, 4)],
)
def test_TP_reproducer_is_short_and_replays(flaw: str, longest: int) -> None:
    with pytest.raises(PropertyViolation) as caught:
        run_parity_machine(selected(flaw), SHRINK)
    lines = str(caught.value).splitlines()
    (script,) = reproducers.scripts(str(caught.value))  # one defect, one kind of divergence
    assert len(script) <= longest, "\n".join(script)
    on_stdlib = reproducers.replay(script, contextvars)
    on_broken = reproducers.replay(script, broken.make(flaw))
    assert on_stdlib != on_broken, (script, on_stdlib, on_broken)
    expected_line = next(line for line in lines if line.startswith("  expected: "))
    if on_stdlib[0] is not None:
        assert on_stdlib[0].__name__ in expected_line
    observed_line = next(line for line in lines if line.startswith("  observed: "))
    assert re.search(r"(returned|raised) ", observed_line)


def test_T9_wants_the_wire_hook_named_when_the_token_offers_one() -> None:
    module = broken.make(broken.FAITHFUL)
    module.Token.__ctxprop_wire__ = lambda self: {}
    with pytest.raises(PropertyViolation) as caught:
        test_tokens.test_T9_token_refuses_copies(ContextvarsImpl("offers-wire", module))
    assert "expected: TypeError naming __ctxprop_wire__" in str(caught.value)


def test_T9_wants_TypeError_not_another_refusal() -> None:
    module = broken.make(broken.FAITHFUL)

    def refuse_with_value_error(self, protocol):
        raise ValueError("no")

    module.Token.__reduce_ex__ = refuse_with_value_error
    with pytest.raises(PropertyViolation, match="observed: raised ValueError: no"):
        test_tokens.test_T9_token_refuses_copies(ContextvarsImpl("value-error", module))


def test_TP_counts_an_implementation_that_cannot_create_vars_as_a_violation() -> None:
    module = broken.make(broken.FAITHFUL)

    def refuse(self, name, **kwargs):
        raise NotImplementedError("vars need a registry")

    module.ContextVar.__init__ = refuse
    with pytest.raises(PropertyViolation) as caught:
        run_parity_machine(ContextvarsImpl("no-vars", module), FIND_ONLY)
    message = str(caught.value)
    assert "v0 = cv.ContextVar('v0')  # <- diverges here" in message, message
    assert "observed: raised NotImplementedError: vars need a registry" in message, message


def test_T10_scenario_reports_a_token_that_is_no_context_manager() -> None:
    """On 3.14+ this is T10's verdict for such a token: an outcome, not a crash."""
    from ctxprop_conformance._token_oracle import run_scenario

    seen = run_scenario(broken.make(broken.FAITHFUL), test_tokens._token_as_context_manager)
    outcome = seen["explicit var.reset(explicit) inside: the exit raises"]
    # `with` on a non-context-manager: AttributeError before 3.11, TypeError since
    assert outcome.exception in (TypeError, AttributeError), outcome
