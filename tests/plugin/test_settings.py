"""Settings: one name on the command line and in ini, validated before anything runs."""

from __future__ import annotations

import os

import pytest


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        pytest.param(
            ["--ctxprop-timeout=0"], "", "*--ctxprop-timeout=0: need a finite number*", id="zero"
        ),
        pytest.param(["--ctxprop-timeout=-1"], "", "*--ctxprop-timeout=-1: need*", id="negative"),
        pytest.param(["--ctxprop-timeout=nan"], "", "*--ctxprop-timeout=nan: need*", id="nan"),
        pytest.param(["--ctxprop-timeout=inf"], "", "*--ctxprop-timeout=inf: need*", id="inf"),
        pytest.param([], "ctxprop_timeout = abc", "*ctxprop_timeout = abc: need*", id="ini-abc"),
        pytest.param(
            [], "ctxprop_progress = maybe", "*progress = maybe: need true*", id="ini-bool"
        ),
        pytest.param(
            ["--ctxprop-runtime=a=scratch:Good", "--ctxprop-runtime=a=scratch:Minimal"],
            "",
            "*runtime name 'a' is selected twice: scratch:Good and scratch:Minimal*",
            id="duplicate-name-cli",
        ),
        pytest.param(
            [],
            "ctxprop_runtime =\n    a=scratch:Good\n    a=scratch:Minimal",
            "*runtime name 'a' is selected twice*",
            id="duplicate-name-ini",
        ),
        pytest.param(
            ["--ctxprop-runtime==scratch:Good"], "", "*empty runtime name before '='*", id="empty"
        ),
        pytest.param(["--ctxprop-runtime=a="], "", "*nothing after '='*", id="empty-target"),
        pytest.param(
            ["--ctxprop-runtime=scratch:Good", "--ctxprop-report=missing/r.json"],
            "",
            "*--ctxprop-report=*missing/r.json: folder * does not exist*",
            id="report-folder-missing",
        ),
        pytest.param(
            ["--ctxprop-runtime=scratch:Good", "--ctxprop-report=scratch.py/r.json"],
            "",
            "*--ctxprop-report=*scratch.py/r.json: folder * does not exist*",
            id="report-folder-is-a-file",
        ),
        pytest.param(
            ["--ctxprop-runtime=scratch:Good", "--ctxprop-report=."],
            "",
            "*--ctxprop-report=*: is a directory*",
            id="report-is-a-folder",
        ),
    ],
)
def test_a_bad_setting_is_a_usage_error_naming_it(
    scratch: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    if ini:
        scratch.makeini(f"[pytest]\n{ini}\n")
    if not any(a.startswith("--ctxprop-runtime") for a in args) and "runtime" not in ini:
        args = [*args, "--ctxprop-runtime=scratch:Good"]
    result = scratch.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_report_is_refused_before_the_run(scratch: pytest.Pytester) -> None:
    locked = scratch.mkdir("locked")
    locked.chmod(0o500)
    try:
        result = scratch.runpytest_subprocess(
            "--ctxprop-runtime=scratch:Good", f"--ctxprop-report={locked / 'r.json'}"
        )
    finally:
        locked.chmod(0o700)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --ctxprop-report=*r.json: not writable"])
    assert "passed" not in result.stdout.str()  # nothing ran
    assert list(locked.iterdir()) == []  # no stray temp file


def test_every_setting_works_from_ini_under_its_cli_name(
    scratch: pytest.Pytester, check_report
) -> None:
    import json

    scratch.makeini(
        "[pytest]\nctxprop_runtime = scratch:Good\nctxprop_report = out/r.json\n"
        "ctxprop_timeout = 2.5\nctxprop_progress = true\n"
    )
    scratch.mkdir("out")
    result = scratch.runpytest_subprocess("-k", "F1", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "ctxprop: 1 runtime(s), 0 contextvars implementation(s); "
            "each check bounded by --ctxprop-timeout=2.5s (and as much again for its clean-up)",
            "ctxprop: start ctxprop_conformance/test_forward.py::test_F1_*[[]scratch:Good[]]",
            "ctxprop: done scratch:Good: 1 pass",
        ]
    )
    report = check_report(json.loads((scratch.path / "out" / "r.json").read_text()))
    assert report["complete"] is True
    assert [r["property"] for r in report["results"]] == ["F1"]


def test_the_old_ini_name_is_still_read_and_the_command_line_wins(
    scratch: pytest.Pytester, run_suite
) -> None:
    scratch.makeini("[pytest]\nctxprop_runtimes = scratch:Good\n")
    assert set(run_suite("-k", "F1").report["runtimes"]) == {"scratch:Good"}
    run = run_suite("-k", "F1", "--ctxprop-runtime=scratch:Minimal")
    assert set(run.report["runtimes"]) == {"scratch:Minimal"}


def test_hypothesis_profile_option_loads_the_plugins_profile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_profile="""
        from hypothesis import settings

        def test_profile():
            assert settings.get_current_profile_name() == "ctxprop-ci"
            assert settings.default.derandomize is True
        """
    )
    result = pytester.runpytest_subprocess(
        "--hypothesis-profile=ctxprop-ci", "-p", "no:cacheprovider", "test_profile.py"
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_hypothesis_profile_with_the_token_suite(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--ctxprop-contextvars=contextvars",
        "--hypothesis-profile=ctxprop-ci",
        "-k",
        "T1_",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*1 passed*"])
