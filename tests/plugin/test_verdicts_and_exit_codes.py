"""Each verdict of SPEC "Verdicts", and the exit code that gates CI on it."""

from __future__ import annotations

import pytest

from ctxprop_conformance.properties import coverage

RUNTIME_CHECKS = sum(len(s["checked"]) for s in coverage() if s["checked_against"] == "runtime")


def test_a_runtime_that_forgets_the_context_fails_with_a_diff(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:Forgetful", "-k", "F2")
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert run.verdicts("scratch:Forgetful") == {"F2": "fail"}
    run.result.stdout.fnmatch_lines(
        [
            "F2 capture at submit -- runtime scratch:Forgetful",
            "  Given: caller sets V=a, submits a task held at a gate, sets V=b",
            "*XX  task (held at a gate while the caller set V=b) reads V  expected 'a'",
            "*observed <unset>",
        ]
    )
    assert "Traceback" not in run.result.stdout.str()


def test_a_declared_deviation_that_fails_is_a_deviation_and_passes_the_gate(
    scratch, run_suite
) -> None:
    run = run_suite("--ctxprop-runtime=scratch:DeviatesF1", "-k", "test_F1_ or test_F3_")
    assert run.ret == pytest.ExitCode.OK
    assert run.verdicts("scratch:DeviatesF1") == {"F1": "deviation", "F3": "pass"}
    assert run.reason("scratch:DeviatesF1", "F1") == "declared deviation: we never copy the context"


def test_a_declared_deviation_that_passes_is_an_error(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:StaleDeviation", "-k", "F3")
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert run.verdicts("scratch:StaleDeviation") == {"F3": "error"}
    assert "declared deviation passed" in run.reason("scratch:StaleDeviation", "F3")


def test_a_broken_adapter_is_an_error_not_a_fail(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:Broken", "-k", "F1")
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert run.verdicts("scratch:Broken") == {"F1": "error"}
    assert "RuntimeError: adapter exploded" in run.reason("scratch:Broken", "F1")


def test_a_hung_runtime_is_an_error_within_the_bound(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:Hangs", "--ctxprop-timeout=0.5", "-k", "F1")
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert run.verdicts("scratch:Hangs") == {"F1": "error"}
    reason = run.reason("scratch:Hangs", "F1")
    assert "hung" in reason
    assert "0.5s" in reason or "2s" in reason  # the bound in force is named


def test_an_undecidable_property_is_inconclusive_never_a_pass(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:NoServer", "-k", "F1 or F2")
    assert run.ret == pytest.ExitCode.OK
    assert run.verdicts("scratch:NoServer") == {"F1": "inconclusive", "F2": "inconclusive"}
    assert run.reason("scratch:NoServer", "F1") == "no server at 127.0.0.1:1 (refused)"


def test_traits_make_properties_na_with_a_reason(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:Minimal", "-k", "B1 or F7 or I5")
    assert run.ret == pytest.ExitCode.OK
    assert run.verdicts("scratch:Minimal") == {"F7": "n/a", "I5": "n/a", "B1": "n/a"}
    assert run.reason("scratch:Minimal", "B1") == "model=copy: nothing flows back to the caller"
    assert "cannot cancel a running task" in run.reason("scratch:Minimal", "I5")


def test_the_report_file_holds_every_verdict_with_traits_and_versions(scratch, run_suite) -> None:
    import platform

    run = run_suite("--ctxprop-runtime=scratch:Good", "--ctxprop-runtime=scratch:Forgetful")
    report = run.report
    assert report["schema"] == "ctxprop-report/1"
    assert report["python"] == platform.python_version()
    assert report["suite_version"] == "0.1.0"
    assert report["spec_version"] == "1"
    assert report["runtimes"]["scratch:Good"]["traits"]["reuses_workers"] is True
    assert report["runtimes"]["scratch:Good"]["traits"]["model"] == "copy"
    assert len(report["results"]) == 2 * RUNTIME_CHECKS
    for row in report["results"]:
        assert set(row) == {"runtime", "property", "verdict", "reason", "nodeid", "ran"}
        # only a verdict decided before the check's body (in setup) has not run
        assert row["ran"] is True or row["verdict"] in ("n/a", "error", "inconclusive")
    assert report["failed"] is True
    assert sum(report["summary"].values()) == 2 * RUNTIME_CHECKS
    assert report["summary"]["fail"] == len(
        [r for r in report["results"] if r["verdict"] == "fail"]
    )


def test_the_matrix_is_printed_at_the_end_of_the_session(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:Good", "--ctxprop-runtime=scratch:Forgetful")
    run.result.stdout.fnmatch_lines(
        [
            "*ctxprop conformance matrix*",
            "*F1  F2  F3*B5*",
            "scratch:Forgetful  F   F   .*",
            "scratch:Good       .   .   .*",
            "*. pass  F fail  D deviation (declared)  - n/a  ? inconclusive  E error*",
        ]
    )


def test_verdicts_are_the_same_under_xdist(scratch, run_suite) -> None:
    serial = run_suite("--ctxprop-runtime=scratch:Good", "--ctxprop-runtime=scratch:Forgetful")
    parallel = run_suite(
        "-n", "2", "--ctxprop-runtime=scratch:Good", "--ctxprop-runtime=scratch:Forgetful"
    )
    assert parallel.ret == serial.ret == pytest.ExitCode.TESTS_FAILED
    for runtime in ("scratch:Good", "scratch:Forgetful"):
        assert parallel.verdicts(runtime) == serial.verdicts(runtime)
    assert len(parallel.report["results"]) == 2 * RUNTIME_CHECKS
