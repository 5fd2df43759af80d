"""The adapter contract fits trio-based runtimes (through anyio) and process pools."""

from __future__ import annotations

import pytest


def test_a_trio_runtime_runs_the_whole_suite(scratch, run_suite) -> None:
    run = run_suite(
        "--ctxprop-runtime=scratch:TrioSpawn", "--ctxprop-runtime=scratch:TrioForgetful"
    )
    good, forgetful = run.verdicts("scratch:TrioSpawn"), run.verdicts("scratch:TrioForgetful")
    assert set(good.values()) == {"pass", "n/a"}, good
    # gates, cancellation and nested submission all work on trio
    assert good["F2"] == good["I5"] == good["F6"] == good["I2"] == "pass"
    assert forgetful["F1"] == forgetful["F2"] == forgetful["I2"] == "fail"
    assert run.ret == pytest.ExitCode.TESTS_FAILED


def test_process_workers_import_probes_and_report_what_the_stdlib_does(run_suite) -> None:
    run = run_suite(
        "--ctxprop-runtime=stdlib.processpool", "-k", "test_F3_ or test_I4_ or test_F1_"
    )
    seen = run.verdicts("stdlib.processpool")
    # a worker process imports the probe vars and functions by name ...
    assert seen["F3"] == "pass"
    # ... but ProcessPoolExecutor ships no context at all
    assert seen["F1"] == "fail"
    # the exception crossed back intact; only the worker's leftover context is wrong
    assert "ok  exception type the caller gets" in run.reason("stdlib.processpool", "I4")
    assert seen["I4"] == "fail"
