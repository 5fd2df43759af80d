"""TP reports every kind of divergence it finds: one defect cannot mask another.

``broken.TWO_DEFECTS`` holds two independent defects: a copy refused with
ValueError (TP meets it within a few steps) and the used-token message worded
differently (it takes a set and two resets).  With one report per run, TP's
shortest reproducer always landed on the copy and the reset defect never
showed.  Each divergence is now raised as the class of its kind, Hypothesis
keeps the kinds apart (its ``InterestingOrigin`` includes the exception type),
and the fail reason lists each with its own reproducer.
"""

from __future__ import annotations

import contextvars
import json
import sys
from pathlib import Path

import broken_contextvars as broken
import pytest
import reproducers
from hypothesis import settings
from hypothesis.errors import Flaky

from ctxprop_conformance._token_oracle import (
    Outcome,
    ParityDivergence,
    divergence,
    divergences_in,
    parity_report,
    stdlib_description,
)
from ctxprop_conformance.test_token_parity import run_parity_machine
from pytest_ctxprop._selection import ContextvarsImpl
from pytest_ctxprop._verdicts import PropertyViolation

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

# Hypothesis goes on looking after the first failure only when it may shrink.
SHRINK = settings(
    max_examples=100, stateful_step_count=20, derandomize=True, deadline=None, database=None
)
TWO = f"broken[{'+'.join(broken.TWO_DEFECTS)}]"
COPY_KIND = "copy: stdlib raised TypeError, implementation raised ValueError"
COPY_REFUSED = "raised ValueError: (message not compared, see T9)"
RESET_KIND = "var.reset: stdlib raised RuntimeError, implementation raised RuntimeError"
REPLAY = "(import your implementation as cv to replay):"
BOTH_HEADERS = [
    f"  2 distinct divergences, each shrunk on its own {REPLAY}",
    f"  divergence 1 of 2, {COPY_KIND}:",
    f"  divergence 2 of 2, {RESET_KIND}:",
]


def headers(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("  ") and line.endswith(":")]


def test_TP_reports_both_of_two_independent_defects() -> None:
    with pytest.raises(PropertyViolation) as caught:
        run_parity_machine(ContextvarsImpl(TWO, broken.make(*broken.TWO_DEFECTS)), SHRINK)
    message = str(caught.value)
    assert message.startswith(f"TP violated by {TWO}: random sequences of "), message
    assert headers(message) == BOTH_HEADERS, message
    assert f"\n  observed: {COPY_REFUSED}\n" in message
    assert message.endswith(" was already used"), message
    copy_script, reset_script = reproducers.scripts(message)
    assert copy_script[-1].startswith("pickle.dumps(t0)"), copy_script
    for script in (copy_script, reset_script):  # each replays its own divergence
        on_stdlib = reproducers.replay(script, contextvars)
        on_broken = reproducers.replay(script, broken.make(*broken.TWO_DEFECTS))
        assert on_stdlib[0] is not on_broken[0] or on_stdlib[1] != on_broken[1], script


@pytest.mark.parametrize(
    ("flaw", "observed"),
    [
        (broken.PICKLE_REFUSED_WITH_VALUE_ERROR, COPY_REFUSED),
        (broken.WRONG_USED_MESSAGE, "raised RuntimeError: <t0> was already used"),
    ],
)
def test_each_defect_alone_is_one_kind(flaw: str, observed: str) -> None:
    """Four copy ways, five reset rules: still one divergence a defect, not one a rule."""
    with pytest.raises(PropertyViolation) as caught:
        run_parity_machine(ContextvarsImpl(flaw, broken.make(flaw)), SHRINK)
    message = str(caught.value)
    assert headers(message) == [f"  shortest diverging sequence {REPLAY}"], message
    assert message.endswith(f"\n  observed: {observed}"), message


def test_a_kind_is_one_class_and_kinds_are_distinct_classes() -> None:
    raised = Outcome(RuntimeError, "<t0> has already been used once")
    worded = Outcome(RuntimeError, "<t0> was already used")
    first = divergence("var.reset", ["a"], raised, worded)
    again = divergence("var.reset", ["a", "b"], raised, Outcome(RuntimeError, "other"))
    other_type = divergence("var.reset", ["a"], raised, Outcome(ValueError, "x"))
    other_operation = divergence("var.get", ["a"], raised, worded)
    assert type(first) is type(again)
    assert len({type(first), type(other_type), type(other_operation)}) == 3
    assert type(first).kind == RESET_KIND
    assert str(first) == f"{RESET_KIND}: a"


def _two() -> tuple[ParityDivergence, ParityDivergence]:
    long = divergence(
        "var.reset",
        ["v0 = cv.ContextVar('v0')", "t0 = v0.set(1)", "v0.reset(t0)", "v0.reset(t0)"],
        Outcome(RuntimeError, "<t0> has already been used once"),
        Outcome(RuntimeError, "<t0> was already used"),
    )
    short = divergence(
        "copy",
        ["v0 = cv.ContextVar('v0')", "t0 = v0.set(1)", "pickle.dumps(t0)"],
        Outcome(TypeError, "(message not compared, see T9)"),
        Outcome(ValueError, "(message not compared, see T9)"),
    )
    return long, short


def test_report_lists_every_kind_shortest_first() -> None:
    std = stdlib_description()
    assert parity_report("mylib", "the claim", _two()) == (
        "TP violated by mylib: the claim\n"
        "  2 distinct divergences, each shrunk on its own"
        " (import your implementation as cv to replay):\n"
        f"  divergence 1 of 2, {COPY_KIND}:\n"
        "    import contextvars as cv, copy, pickle, cloudpickle\n"
        "    v0 = cv.ContextVar('v0')\n"
        "    t0 = v0.set(1)\n"
        "    pickle.dumps(t0)  # <- diverges here\n"
        f"  expected: raised TypeError: (message not compared, see T9)   [{std}]\n"
        "  observed: raised ValueError: (message not compared, see T9)\n"
        f"  divergence 2 of 2, {RESET_KIND}:\n"
        "    import contextvars as cv, copy, pickle, cloudpickle\n"
        "    v0 = cv.ContextVar('v0')\n"
        "    t0 = v0.set(1)\n"
        "    v0.reset(t0)\n"
        "    v0.reset(t0)  # <- diverges here\n"
        f"  expected: raised RuntimeError: <t0> has already been used once   [{std}]\n"
        "  observed: raised RuntimeError: <t0> was already used"
    )


def test_report_of_one_kind_keeps_the_single_form() -> None:
    _, short = _two()
    assert parity_report("mylib", "the claim", [short]) == (
        "TP violated by mylib: the claim\n"
        "  shortest diverging sequence (import your implementation as cv to replay):\n"
        "    import contextvars as cv, copy, pickle, cloudpickle\n"
        "    v0 = cv.ContextVar('v0')\n"
        "    t0 = v0.set(1)\n"
        "    pickle.dumps(t0)  # <- diverges here\n"
        "  expected: raised TypeError: (message not compared, see T9)"
        f"   [{stdlib_description()}]\n"
        "  observed: raised ValueError: (message not compared, see T9)"
    )


def test_a_group_of_divergences_is_every_divergence_in_it() -> None:
    long, short = _two()
    group = ExceptionGroup("Hypothesis found 2 distinct failures.", [long, short])
    assert divergences_in(group) == [long, short]
    assert divergences_in(ExceptionGroup("nested", [group])) == [long, short]
    assert divergences_in(short) == [short]


class _FlakyGroup(ExceptionGroup, Flaky):  # what Hypothesis raises as FlakyFailure
    pass


def test_anything_else_in_the_group_is_no_verdict() -> None:
    """The harness broke (or the failure is flaky): the group is raised as is, an error."""
    long, short = _two()
    assert divergences_in(ExceptionGroup("2", [long, KeyError("harness")])) == []
    assert divergences_in(_FlakyGroup("flaky", [short])) == []
    assert divergences_in(KeyError("harness")) == []


def test_end_to_end_both_defects_are_in_the_TP_fail_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pytest -p ctxprop --ctxprop-contextvars=...``: verdict ``fail``, both kinds shown."""
    source = Path(broken.__file__).read_text(encoding="utf-8")
    pytester.makepyfile(broken_contextvars=source)
    pytester.makepyfile(impls="import broken_contextvars as b\ntwo = b.make(*b.TWO_DEFECTS)\n")
    monkeypatch.setenv("CI", "1")  # the ctxprop-ci profile: derandomized
    report = pytester.path / "ctxprop-report.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "ctxprop", f"--ctxprop-report={report}",
        "--ctxprop-contextvars=impls:two", "-k", "test_TP_",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    (row,) = json.loads(report.read_text(encoding="utf-8"))["results"]
    assert (row["runtime"], row["property"], row["verdict"]) == ("impls:two", "TP", "fail")
    assert headers(row["reason"]) == BOTH_HEADERS, row["reason"]
    assert len(reproducers.scripts(row["reason"])) == 2, row["reason"]
    result.stdout.fnmatch_lines([f"*divergence 2 of 2, {RESET_KIND}:"])
