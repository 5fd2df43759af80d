"""``ctxprop matrix``: runs the suite, prints the matrix, exits 0 whatever the verdicts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_ctxprop._builtin import BUILTIN_RUNTIMES


def ctxprop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_ctxprop._cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_matrix_on_every_builtin_runtime_reports_and_exits_0() -> None:
    proc = ctxprop("matrix", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report["runtimes"]) == set(BUILTIN_RUNTIMES)
    by_runtime: dict[str, dict[str, str]] = {}
    for row in report["results"]:
        by_runtime.setdefault(row["runtime"], {})[row["property"]] = row["verdict"]
    # the reference runtimes are the fix: nothing fails, nothing is undecided
    for name, seen in by_runtime.items():
        if name.startswith("reference."):
            assert set(seen.values()) <= {"pass", "n/a"}, (name, seen)
    # the stdlib's plain thread pool really does lose the context
    assert by_runtime["stdlib.threadpool"]["F1"] == "fail"
    assert by_runtime["stdlib.thread_copy_context"]["F1"] == "pass"
    assert "verdicts on 14 runtimes" in proc.stderr


def test_matrix_prints_the_terminal_matrix_and_markdown() -> None:
    text = ctxprop("matrix", "--runtime", "stdlib.thread", "--runtime", "reference.thread")
    assert text.returncode == 0
    assert "reference.thread" in text.stdout
    assert ". pass  F fail" in text.stdout
    md = ctxprop("matrix", "--markdown", "--runtime", "stdlib.thread")
    assert md.returncode == 0
    assert md.stdout.startswith("| runtime | F1 | F2 |")
    assert "| stdlib.thread | fail | fail | pass |" in md.stdout


def test_matrix_fails_when_the_suite_cannot_run() -> None:
    proc = ctxprop("matrix", "--runtime", "no_such_module:Factory")
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR
    assert "cannot import module 'no_such_module'" in proc.stderr
    assert "the suite did not run" in proc.stderr


def test_list_names_every_builtin_runtime() -> None:
    proc = ctxprop("list")
    assert proc.stdout.split() == sorted(BUILTIN_RUNTIMES)
