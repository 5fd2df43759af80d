"""Loading, disabling and collecting: the plugin is invisible until something is selected."""

from __future__ import annotations

import pytest

from ctxprop_conformance.properties import coverage

#: checks per runtime in this suite version (the F, I, B, S sections)
RUNTIME_CHECKS = sum(len(s["checked"]) for s in coverage() if s["checked_against"] == "runtime")

DOWNSTREAM_TEST = """
def test_downstream():
    assert 1 + 1 == 2
"""


def test_autoload_off_p_ctxprop_runs_the_suite_on_a_runtime_defined_there(
    scratch: pytest.Pytester, run_suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    run = run_suite("-p", "ctxprop", "--ctxprop-runtime=scratch:Good", "-v")
    assert run.ret == pytest.ExitCode.OK
    run.result.stdout.fnmatch_lines(["*test_F2_capture_at_submit?scratch:Good? PASSED*"])
    seen = run.verdicts("scratch:Good")
    assert set(seen.values()) <= {"pass", "n/a"}
    assert seen["F1"] == seen["I3"] == "pass"
    assert len(seen) == RUNTIME_CHECKS


def test_without_autoload_or_p_the_option_does_not_exist(
    scratch: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = scratch.runpytest_subprocess("--ctxprop-runtime=scratch:Good")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --ctxprop-runtime*"])


def test_p_no_ctxprop_disables_the_plugin(scratch: pytest.Pytester) -> None:
    result = scratch.runpytest_subprocess("-p", "no:ctxprop", "--ctxprop-runtime=scratch:Good")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --ctxprop-runtime*"])


def test_loaded_with_nothing_selected_changes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mine=DOWNSTREAM_TEST)
    quiet = ("--no-header", "-p", "no:cacheprovider", "-rA")
    with_plugin = pytester.runpytest_subprocess("-p", "ctxprop", *quiet)
    without = pytester.runpytest_subprocess("-p", "no:ctxprop", *quiet)
    with_plugin.assert_outcomes(passed=1)
    without.assert_outcomes(passed=1)
    assert "warning" not in with_plugin.stdout.str().lower()
    assert "ctxprop" not in with_plugin.stdout.str()
    assert with_plugin.stdout.lines[:-1] == without.stdout.lines[:-1]  # all but the timing
    fixtures = pytester.runpytest_subprocess("--fixtures", "-p", "ctxprop")
    assert "ctxprop_runtime" not in fixtures.stdout.str()
    collected = pytester.runpytest_subprocess("--co", "-q", "-p", "ctxprop")
    collected.stdout.fnmatch_lines(["test_mine.py::test_downstream", "1 test collected*"])


def test_ids_carry_the_property_and_the_runtime(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--co", "-q", "--ctxprop-runtime=stdlib.threadpool")
    result.stdout.fnmatch_lines(
        [
            "ctxprop_conformance/test_forward.py::test_F2_capture_at_submit[[]stdlib.threadpool[]]",
            "ctxprop_conformance/test_isolation.py::test_I3_no_bleed_between_tasks_on_one_worker*",
            "ctxprop_conformance/test_backprop.py::test_B5_changes_of_a_raising_task*",
        ]
    )


def test_k_selects_one_property(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-q",
        "-k",
        "F2",
        "--ctxprop-runtime=reference.threadpool",
        "--ctxprop-runtime=stdlib.thread",
    )
    result.assert_outcomes(passed=1, failed=1, deselected=2 * RUNTIME_CHECKS - 2)


def test_the_users_python_files_setting_does_not_hide_the_suite(
    scratch: pytest.Pytester, run_suite
) -> None:
    scratch.makeini("[pytest]\npython_files = check_*.py\npython_functions = check_*\n")
    run = run_suite("--ctxprop-runtime=scratch:Good")
    assert run.ret == pytest.ExitCode.OK
    assert len(run.verdicts("scratch:Good")) == RUNTIME_CHECKS


def test_ini_selects_runtimes(scratch: pytest.Pytester, run_suite) -> None:
    scratch.makeini(
        "[pytest]\nctxprop_runtimes =\n    scratch:Good\n    stdlib.thread_copy_context\n"
    )
    run = run_suite()
    assert run.ret == pytest.ExitCode.OK
    assert set(run.report["runtimes"]) == {"scratch:Good", "stdlib.thread_copy_context"}


def test_hook_selects_runtimes(scratch: pytest.Pytester, run_suite) -> None:
    scratch.makeconftest(
        """
        import scratch

        def pytest_ctxprop_runtimes(config):
            return {"from-hook": scratch.Minimal}
        """
    )
    run = run_suite()
    assert run.ret == pytest.ExitCode.OK
    assert run.verdicts("from-hook")["F2"] == "pass"


def test_entry_point_names_are_selectable(scratch: pytest.Pytester) -> None:
    """A distribution on sys.path declares a runtime in the ctxprop.runtimes group."""
    dist = scratch.mkdir("scratchdist-0.1.dist-info")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: scratchdist\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ctxprop.runtimes]\nmine = scratch:Minimal\n")
    result = scratch.runpytest_subprocess("-q", "--ctxprop-runtime=mine", "-k", "F1")
    result.assert_outcomes(passed=1, deselected=RUNTIME_CHECKS - 1)


def test_a_runtime_that_cannot_exist_here_is_na_everywhere(
    scratch: pytest.Pytester, run_suite
) -> None:
    run = run_suite("--ctxprop-runtime=scratch:NeedsFuture")
    assert run.ret == pytest.ExitCode.OK
    assert set(run.verdicts("scratch:NeedsFuture").values()) == {"n/a"}
    assert run.report["runtimes"]["scratch:NeedsFuture"]["unavailable"] == "needs Python 9"
