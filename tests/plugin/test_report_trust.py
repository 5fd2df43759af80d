"""A report you can trust: a session that does not reach its end never looks complete."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest


def _report(pytester: pytest.Pytester, check_report) -> dict:
    return check_report(json.loads((pytester.path / "r.json").read_text(encoding="utf-8")))


def _leftovers(pytester: pytest.Pytester) -> list[str]:
    return [p.name for p in pytester.path.iterdir() if p.name.endswith(".tmp")]


def test_a_complete_run_records_that_every_check_ran(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:Good", "--ctxprop-runtime=scratch:NeedsFuture")
    assert run.report["complete"] is True
    assert run.report["exit_status"] == 0
    assert run.report["failed"] is False
    rows = run.report["results"]
    assert all(r["ran"] for r in rows if r["verdict"] == "pass")
    # an unavailable runtime's n/a is decided in setup: the check itself never ran
    assert not any(r["ran"] for r in rows if r["runtime"] == "scratch:NeedsFuture")
    assert _leftovers(scratch) == []


def test_x_stops_early_and_the_rest_is_not_run_never_passed(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:Forgetful", "-x")
    report = run.report
    assert report["complete"] is False
    assert report["failed"] is True
    not_run = [r for r in report["results"] if r["verdict"] is None]
    assert not_run
    assert all(r["ran"] is False for r in not_run)
    assert report["selection"]["not_run"] == len(not_run)
    assert "INCOMPLETE" in run.result.stdout.str()


def test_an_internalerror_leaves_an_incomplete_failed_report(
    scratch: pytest.Pytester, check_report
) -> None:
    scratch.makeconftest(
        """
        class Boom:
            def pytest_runtest_logfinish(self, nodeid, location):
                raise RuntimeError("conftest hook broke")

        def pytest_configure(config):
            config.pluginmanager.register(Boom())  # global: the suite is outside this folder
        """
    )
    result = scratch.runpytest_subprocess(
        "--ctxprop-runtime=scratch:Good", "--ctxprop-report=r.json", "-k", "F1 or F2"
    )
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    report = _report(scratch, check_report)
    assert report["complete"] is False
    assert report["failed"] is True
    assert report["exit_status"] == pytest.ExitCode.INTERNAL_ERROR
    assert [r["verdict"] for r in report["results"]] == ["pass", None]  # F2 never ran
    assert _leftovers(scratch) == []


def test_os_exit_in_a_worker_thread_leaves_the_report_marked_incomplete(
    scratch: pytest.Pytester, check_report
) -> None:
    result = scratch.runpytest_subprocess(
        "--ctxprop-runtime=scratch:ExitsInWorker", "--ctxprop-report=r.json", "-k", "F1"
    )
    assert result.ret == 7
    report = _report(scratch, check_report)
    assert report["complete"] is False
    assert report["failed"] is True
    assert report["exit_status"] is None
    assert report["results"] == []


def test_sigterm_leaves_the_report_marked_incomplete(
    scratch: pytest.Pytester, check_report
) -> None:
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--ctxprop-progress",
        "--ctxprop-runtime=scratch:FreezesProcess", "--ctxprop-report=r.json", "-k", "F1",
    ]  # fmt: skip
    with subprocess.Popen(
        command, cwd=scratch.path, stdout=subprocess.PIPE, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ctxprop: start "):
                break
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)  # the runtime froze its process
        assert proc.wait(timeout=60) == -signal.SIGTERM
    report = _report(scratch, check_report)
    assert report["complete"] is False
    assert report["failed"] is True
