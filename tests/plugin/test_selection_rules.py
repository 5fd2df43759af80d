"""The ``ctxprop`` marker, and which paths and expressions run the suite."""

from __future__ import annotations

import pytest

MINE = """
def test_mine():
    pass
"""
INI = "[pytest]\nctxprop_runtime = scratch:Good\n"


def _outcomes(result: pytest.RunResult) -> dict[str, int]:
    seen = result.parseoutcomes()
    return {k: seen.get(k, 0) for k in ("passed", "failed", "skipped", "errors")}


def _runtime_checks(pytester: pytest.Pytester) -> int:
    """How many checks the suite has for one runtime (the lead adds properties)."""
    listed = pytester.runpytest_subprocess("--co", "-q", "--ctxprop-runtime=scratch:Good")
    return sum("[scratch:Good]" in line for line in listed.stdout.lines)


@pytest.fixture
def project(scratch: pytest.Pytester) -> pytest.Pytester:
    """A downstream project with its own test and a runtime configured in ini."""
    scratch.makeini(INI)
    scratch.mkdir("tests")
    (scratch.path / "tests" / "test_mine.py").write_text(MINE, encoding="utf-8")
    return scratch


def test_a_path_argument_runs_exactly_the_users_test(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("tests/test_mine.py::test_mine", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "ctxprop conformance matrix" not in result.stdout.str()
    assert "ctxprop_conformance" not in result.stdout.str()


def test_no_path_runs_the_suite_too(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-q", "-k", "mine or F1", "-p", "no:cacheprovider")
    assert _outcomes(result) == {"passed": 2, "failed": 0, "skipped": 0, "errors": 0}
    assert result.parseoutcomes()["deselected"] == _runtime_checks(project) - 1


def test_the_suites_path_selects_in_the_suite(project: pytest.Pytester, run_suite) -> None:
    run = run_suite("ctxprop_conformance/test_forward.py::test_F2_capture_at_submit", "-q")
    assert _outcomes(run.result)["passed"] == 1
    assert run.verdicts("scratch:Good") == {"F2": "pass"}
    deselected = [d["property"] for d in run.report["selection"]["deselected"]]
    assert len(deselected) == run.result.parseoutcomes()["deselected"] > 0
    assert "F2" not in deselected
    both = project.runpytest_subprocess(
        "tests", "ctxprop_conformance/test_backprop.py", "-q", "-p", "no:cacheprovider"
    )
    assert _outcomes(both)["passed"] == 1  # tests/test_mine.py
    assert _outcomes(both)["skipped"] >= 5  # B1-B5 are n/a on a copy runtime
    assert "test_forward" not in both.stdout.str()


def test_a_node_id_from_the_output_reruns_one_check(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "ctxprop_conformance/test_forward.py::test_F1_caller_value_reaches_task[scratch:Good]",
        "-v",
        "-p",
        "no:cacheprovider",
    )
    result.stdout.fnmatch_lines(["*test_F1_caller_value_reaches_task?scratch:Good? PASSED*"])
    assert _outcomes(result) == {"passed": 1, "failed": 0, "skipped": 0, "errors": 0}


def test_a_suite_path_that_matches_nothing_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("ctxprop_conformance/test_nope.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: not found in the ctxprop suite: *test_nope.py*"])


def test_a_runtime_on_the_command_line_runs_the_suite_beside_paths(
    scratch: pytest.Pytester,
) -> None:
    scratch.makepyfile(test_mine=MINE)
    result = scratch.runpytest_subprocess(
        "test_mine.py", "--ctxprop-runtime=scratch:Good", "-k", "mine or F1", "-q"
    )
    assert _outcomes(result) == {"passed": 2, "failed": 0, "skipped": 0, "errors": 0}


def test_minus_m_not_ctxprop_deselects_the_suite_and_strict_markers_holds(
    project: pytest.Pytester, run_suite
) -> None:
    run = run_suite("-m", "not ctxprop", "--strict-markers", "-q")
    assert _outcomes(run.result)["passed"] == 1
    assert run.report["results"] == []
    checks = _runtime_checks(project)
    assert len(run.report["selection"]["deselected"]) == checks
    assert run.result.parseoutcomes()["deselected"] == checks
    assert run.report["selection"]["markexpr"] == "not ctxprop"
    only = project.runpytest_subprocess("-m", "ctxprop", "--strict-markers", "-q", "-k", "F1")
    assert _outcomes(only)["passed"] == 1
    assert only.parseoutcomes()["deselected"] == checks  # test_mine and the other checks


def test_markers_lists_the_ctxprop_marker(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.ctxprop: a check of the ctxprop conformance suite*"])


def test_k_deselection_is_recorded_never_passed(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:Good", "-k", "F1 or F3")
    selection = run.report["selection"]
    assert selection["keyword"] == "F1 or F3"
    assert selection["selected"] == 2
    assert len(selection["deselected"]) == run.result.parseoutcomes()["deselected"]
    assert {r["property"] for r in run.report["results"]} == {"F1", "F3"}
    assert all(r["ran"] for r in run.report["results"])


def test_selection_is_recorded_under_xdist(scratch, run_suite) -> None:
    run = run_suite("--ctxprop-runtime=scratch:Good", "-k", "F1 or F3", "-n", "2")
    assert run.report["complete"] is True
    assert run.report["selection"]["selected"] == 2
    assert len(run.report["selection"]["deselected"]) == _runtime_checks(scratch) - 2


def test_ignore_leaves_the_suite_or_one_module_out(scratch) -> None:
    whole = scratch.runpytest_subprocess(
        "--ctxprop-runtime=scratch:Good", "--ignore=ctxprop_conformance"
    )
    assert whole.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    one = scratch.runpytest_subprocess(
        "--ctxprop-runtime=scratch:Good",
        "--ignore=ctxprop_conformance/test_forward.py",
        "--co",
        "-q",
    )
    listed = one.stdout.str()
    assert "test_forward.py" not in listed
    assert "ctxprop_conformance/test_isolation.py::test_I1" in listed
    globbed = scratch.runpytest_subprocess(
        "--ctxprop-runtime=scratch:Good", "--ignore-glob=*/test_token_*", "--co", "-q"
    )
    assert "test_token_transport" not in globbed.stdout.str()
    assert "test_serialization.py" in globbed.stdout.str()
