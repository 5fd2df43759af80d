"""The token suite passes for the stdlib itself and for the reference.

T1-T10 are the suite's own test functions, collected here against the local
``ctxprop_contextvars`` fixture (conftest.py): stdlib and reference.  T10 is
n/a below Python 3.14 (the stdlib Token is no context manager there).  TP runs
with bounded settings: the profiles' budget is for users' CI, not this suite.
"""

from __future__ import annotations

import contextvars

import pytest
from hypothesis import settings

from ctxprop_conformance.test_token_parity import run_parity_machine
from ctxprop_conformance.test_tokens import (
    test_T1_token_var_and_old_value,
    test_T2_fresh_token_restores,
    test_T3_used_token_rejected,
    test_T4_token_of_other_var_rejected,
    test_T5_token_of_other_context_rejected,
    test_T6_non_token_rejected,
    test_T7_check_order,
    test_T8_rejected_reset_changes_nothing,
    test_T9_token_refuses_copies,
    test_T10_token_context_manager,
)
from pytest_ctxprop._selection import ContextvarsImpl
from pytest_ctxprop._verdicts import NotApplicable

__all__ = [
    "test_T1_token_var_and_old_value",
    "test_T2_fresh_token_restores",
    "test_T3_used_token_rejected",
    "test_T4_token_of_other_var_rejected",
    "test_T5_token_of_other_context_rejected",
    "test_T6_non_token_rejected",
    "test_T7_check_order",
    "test_T8_rejected_reset_changes_nothing",
    "test_T9_token_refuses_copies",
    "test_T10_token_context_manager",
]

BOUNDED = settings(
    max_examples=40, stateful_step_count=20, derandomize=True, deadline=None, database=None
)


def test_TP_finds_no_divergence(ctxprop_contextvars: ContextvarsImpl) -> None:
    run_parity_machine(ctxprop_contextvars, BOUNDED)


@pytest.mark.skipif(
    hasattr(contextvars.Token, "__enter__"), reason="T10 is checked on this interpreter"
)
def test_T10_is_not_applicable_where_the_stdlib_token_is_no_context_manager(
    ctxprop_contextvars: ContextvarsImpl,
) -> None:
    with pytest.raises(NotApplicable, match=r"n/a: .*__enter__"):
        test_T10_token_context_manager(ctxprop_contextvars)
