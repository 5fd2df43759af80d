"""The oracle machinery: normalisation, comparison, and that each scenario observes on
the stdlib what SPEC T says (so a parity pass is never two sides agreeing on nothing).
"""

from __future__ import annotations

import contextvars
import types

import broken_contextvars as broken
import pytest

import ctxprop_reference.vars as reference
from ctxprop_conformance import test_tokens
from ctxprop_conformance._token_oracle import (
    STDLIB,
    Label,
    Labels,
    Outcome,
    check_parity,
    elide_addresses,
    implementation_module,
    implementation_name,
    missing_sentinel,
    run_scenario,
)
from pytest_ctxprop._selection import ContextvarsImpl
from pytest_ctxprop._verdicts import PropertyViolation


def test_addresses_are_elided_everywhere_in_a_message() -> None:
    text = "<Token var=<ContextVar name='v' at 0x7f3a2b1c> at 0x7F00AB> has already been used once"
    assert elide_addresses(text) == (
        "<Token var=<ContextVar name='v' at 0x…> at 0x…> has already been used once"
    )


def test_a_token_repr_is_labelled_whole_before_the_var_repr_inside_it() -> None:
    var = contextvars.ContextVar("v")
    tok = var.set(1)
    labels = Labels({"var": var, "tok": tok})
    assert labels.message(f"{tok!r} and {var!r}") == "<tok> and <var>"


def test_values_in_play_and_the_sentinel_become_labels() -> None:
    var = contextvars.ContextVar("v")
    labels = Labels({"var": var}, missing=contextvars.Token.MISSING)
    assert labels.value(var) == Label("var")
    assert labels.value(contextvars.Token.MISSING) == Label("MISSING")
    assert labels.value("a") == "a"
    assert labels.returned(var) == Outcome(None, "<var>")
    assert labels.returned((1,)) == Outcome(None, "(1,)")


def test_outcomes_compare_exception_type_exactly() -> None:
    labels = Labels({})

    class Subclass(RuntimeError):
        pass

    def raise_runtime() -> None:
        raise RuntimeError("x")

    def raise_subclass() -> None:
        raise Subclass("x")

    assert labels.observe(raise_runtime) != labels.observe(raise_subclass)
    assert str(labels.observe(raise_runtime)) == "raised RuntimeError: x"
    assert str(labels.observe(lambda: 3)) == "returned 3"


# What SPEC T says the stdlib does, step by step, on this interpreter's oracle.
SPEC_SHAPES = [
    (test_tokens._token_attributes, "first.old_value", "returned <MISSING>"),
    (test_tokens._token_attributes, "second.old_value", "returned 'a'"),
    (test_tokens._fresh_token_reset, "var.get() after reset", "raised LookupError: <var>"),
    (test_tokens._fresh_token_reset, "var.get() back to 'a'", "returned 'a'"),
    (
        test_tokens._used_token_reset,
        "var.reset(tok) a second time",
        "raised RuntimeError: <tok> has already been used once",
    ),
    (
        test_tokens._other_var_reset,
        "other.reset(tok) (tok from var)",
        "raised ValueError: <tok> was created by a different ContextVar",
    ),
    (
        test_tokens._other_context_reset,
        "var.reset(from_sibling) here",
        "raised ValueError: <from_sibling> was created in a different Context",
    ),
    (
        test_tokens._non_token_reset,
        "var.reset(None)",
        "raised TypeError: expected an instance of Token, got None",
    ),
    (
        test_tokens._check_order,
        "used + other var + other Context: other.reset(used_elsewhere)",
        "raised RuntimeError: <used_elsewhere> has already been used once",
    ),
    (
        test_tokens._check_order,
        "other var + other Context: other.reset(fresh_elsewhere)",
        "raised ValueError: <fresh_elsewhere> was created by a different ContextVar",
    ),
    (
        test_tokens._rejected_reset_changes_nothing,
        "tok is still fresh: var.reset(tok)",
        "returned None",
    ),
    (
        test_tokens._rejected_reset_changes_nothing,
        "then var.get() in elsewhere is 'before'",
        "returned 'before'",
    ),
]


@pytest.mark.parametrize(
    ("scenario", "step", "shape"), SPEC_SHAPES, ids=[s[1] for s in SPEC_SHAPES]
)
def test_stdlib_oracle_observes_what_the_spec_says(scenario, step: str, shape: str) -> None:
    assert str(run_scenario(STDLIB, scenario)[step]) == shape


def test_reprs_are_the_implementations_own_business() -> None:
    """A Token/ContextVar spelled differently still passes: only the template counts."""
    module = broken.make(broken.FAITHFUL)
    module.Token.__repr__ = lambda self: f"Tok({self.var.name})"  # type: ignore[method-assign]
    module.ContextVar.__repr__ = lambda self: f"Var({self.name})"  # type: ignore[method-assign]
    selected = ContextvarsImpl("respelled", module)
    for check in (test_tokens.test_T3_used_token_rejected, test_tokens.test_T7_check_order):
        check(selected)


def test_a_message_naming_the_wrong_object_is_a_violation() -> None:
    module = broken.make(broken.FAITHFUL)
    original = module.ContextVar.reset

    def reset_blaming_the_var(self, token):
        try:
            original(self, token)
        except RuntimeError:
            raise RuntimeError(f"{self!r} has already been used once") from None

    module.ContextVar.reset = reset_blaming_the_var
    with pytest.raises(PropertyViolation, match="observed: raised RuntimeError: <var> has"):
        test_tokens.test_T3_used_token_rejected(ContextvarsImpl("blames-var", module))


def test_an_implementation_failing_during_setup_is_a_violation_not_an_error() -> None:
    module = types.SimpleNamespace(**vars(contextvars))
    module.ContextVar = lambda *args, **kwargs: (_ for _ in ()).throw(OSError("no vars today"))
    with pytest.raises(PropertyViolation, match="step:     setting up the scenario"):
        test_tokens.test_T4_token_of_other_var_rejected(ContextvarsImpl("no-vars", module))


def test_a_scenario_broken_on_the_stdlib_is_an_error() -> None:
    def scenario(cv):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        check_parity("T1", "claim", scenario, ContextvarsImpl("contextvars", contextvars))


def test_fixture_shapes_and_sentinels() -> None:
    selected = ContextvarsImpl("ctxprop_reference.vars", reference)
    assert implementation_module(selected) is reference
    assert implementation_name(selected) == "ctxprop_reference.vars"
    assert implementation_module(contextvars) is contextvars
    assert implementation_name(contextvars) == "contextvars"
    assert missing_sentinel(contextvars) is contextvars.Token.MISSING
    marker = object()
    assert missing_sentinel(types.SimpleNamespace(Token=object, MISSING=marker)) is marker
