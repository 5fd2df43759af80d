"""``ctxprop matrix``: runs the suite, prints the matrix, exits 0 whatever the verdicts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

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


#: the awaited-call reference's declared deviations on Python 3.10 (docs/reference.md)
DECLARED_HERE = (
    {("reference.asyncio_awaited", "T11"), ("reference.asyncio_awaited", "T16")}
    if sys.version_info < (3, 11)
    else set()
)


def test_matrix_on_every_builtin_runtime_reports_and_exits_0(project: Path, check_report) -> None:
    """README's ``ctxprop matrix``, typed in a user's folder (with --json to read it)."""
    proc = run_ctxprop(project, "matrix", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report["runtimes"]) == set(BUILTIN_RUNTIMES)
    by_runtime: dict[str, dict[str, str]] = {}
    for row in report["results"]:
        by_runtime.setdefault(row["runtime"], {})[row["property"]] = row["verdict"]
    # the reference runtimes are the fix: nothing fails, nothing is undecided
    bad = [
        f"{r['runtime']} {r['property']} {r['verdict']}: {r['reason'][:600]}"
        for r in report["results"]
        if r["runtime"].startswith("reference.")
        and r["verdict"] not in ("pass", "n/a")
        and not (r["verdict"] == "deviation" and (r["runtime"], r["property"]) in DECLARED_HERE)
    ]
    assert not bad, "\n".join(bad[:3])
    # the stdlib's plain thread pool really does lose the context
    assert by_runtime["stdlib.threadpool"]["F1"] == "fail"
    assert by_runtime["stdlib.thread_copy_context"]["F1"] == "pass"
    assert f"verdicts on {len(BUILTIN_RUNTIMES)} runtimes" in proc.stderr
    check_report(report)


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


SCRATCH = Path(__file__).with_name("scratch_runtimes.py")
CTXPROP = Path(sys.executable).with_name("ctxprop")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's repository root holding ``scratch.py``; never on sys.path by itself."""
    (tmp_path / "scratch.py").write_text(SCRATCH.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "tmp").mkdir()
    return tmp_path


def _env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TMPDIR"] = str(project / "tmp")
    return env


def run_ctxprop(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CTXPROP), *args], cwd=project, env=_env(project),
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_version_and_a_clean_help() -> None:
    from pytest_ctxprop import __version__

    assert ctxprop("--version").stdout.strip() == f"ctxprop {__version__}"
    for args in (["--help"], ["matrix", "--help"]):
        text = ctxprop(*args).stdout
        assert "``" not in text
        assert "usage: ctxprop" in text
    assert "--fail-on VERDICTS" in ctxprop("matrix", "--help").stdout


def test_a_runtime_from_the_current_folder_with_progress_and_fail_on(project: Path) -> None:
    proc = run_ctxprop(
        project, "matrix", "--runtime", "scratch:Forgetful", "--fail-on", "fail,error"
    )
    assert proc.returncode == 1, proc.stderr
    assert "  [1/1] scratch:Forgetful ..." in proc.stderr
    assert re.search(r"\[1/1\] scratch:Forgetful: .*fail.* \(\d+\.\ds\)", proc.stderr)
    assert "--fail-on: fail verdicts present" in proc.stderr
    assert "scratch:Forgetful  F   F" in proc.stdout
    assert list((project / "tmp").iterdir()) == []  # the temp folder is gone
    passing = run_ctxprop(project, "matrix", "--runtime", "scratch:Good", "--fail-on", "fail,error")
    assert passing.returncode == 0, passing.stderr


def test_fail_on_names_only_verdicts() -> None:
    proc = ctxprop("matrix", "--fail-on", "fail,broken")
    assert proc.returncode == 2
    assert "need verdicts from pass, fail, deviation" in proc.stderr


def test_a_hung_child_is_stopped_and_named(project: Path) -> None:
    proc = run_ctxprop(project, "matrix", "--runtime", "scratch:FreezesProcess", "--timeout", "0.5")
    assert proc.returncode == 2, proc.stderr
    assert re.search(
        r"the suite hung and was stopped: one check took longer than 6.5s; last progress: "
        r"ctxprop: start ctxprop_conformance/test_forward.py::test_F1_\w+"
        r"\[scratch:FreezesProcess\]",
        proc.stderr,
    ), proc.stderr
    assert list((project / "tmp").iterdir()) == []
    assert _children_of(project) == []


def _children_of(project: Path) -> list[int]:
    """Processes whose command line names the project's temp folder (the matrix child)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(project / "tmp") in (entry / "cmdline").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the child through /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_child_and_removes_the_temp_folder(project: Path, sig) -> None:
    with subprocess.Popen(
        [str(CTXPROP), "matrix", "--runtime", "scratch:FreezesProcess", "--timeout", "30"],
        cwd=project, env=_env(project), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        text=True,
    ) as proc:  # fmt: skip
        assert proc.stderr is not None
        for line in proc.stderr:
            if "[1/1] scratch:FreezesProcess ..." in line:
                break
        assert _children_of(project)  # the child runs, in a folder under TMPDIR
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 128 + sig
        assert f"stopped by {signal.Signals(sig).name}" in proc.stderr.read()
    assert _children_of(project) == []
    assert list((project / "tmp").iterdir()) == []
