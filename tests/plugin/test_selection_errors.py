"""A bad selection is a usage error that names the problem, never a traceback."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("option", "message"),
    [
        pytest.param(
            "--ctxprop-runtime=no_such_module:Factory",
            "*runtime 'no_such_module:Factory'*cannot import module 'no_such_module'*"
            "ModuleNotFoundError*",
            id="unimportable-module",
        ),
        pytest.param(
            "--ctxprop-runtime=scratch:Missing",
            "*module 'scratch' has no attribute 'Missing'*",
            id="missing-attribute",
        ),
        pytest.param(
            "--ctxprop-runtime=scratch:not_an_adapter",
            "*the factory returned object, not a RuntimeAdapter or AsyncRuntimeAdapter*",
            id="not-an-adapter",
        ),
        pytest.param(
            "--ctxprop-runtime=scratch:NOT_CALLABLE",
            "*42 is not callable (need an adapter factory)*",
            id="not-callable",
        ),
        pytest.param(
            "--ctxprop-runtime=scratch:raising_factory",
            "*the factory raised ValueError: bad configuration*",
            id="factory-raises",
        ),
        pytest.param(
            "--ctxprop-runtime=scratch:UnknownDeviation",
            "*declared deviation for unknown property 'F99'*",
            id="deviation-unknown-property",
        ),
        pytest.param(
            "--ctxprop-runtime=stdlib.nope",
            "*not a known runtime name and not 'pkg.mod:factory'*stdlib.threadpool*",
            id="unknown-short-name",
        ),
        pytest.param(
            "--ctxprop-runtime=nothing.*",
            "*--ctxprop-runtime=nothing.*: no runtime names match*",
            id="empty-family",
        ),
        pytest.param(
            "--ctxprop-contextvars=scratch",
            "*--ctxprop-contextvars=scratch: <module 'scratch'*lacks ContextVar, Token, Context*",
            id="contextvars-not-an-implementation",
        ),
    ],
)
def test_bad_selection_is_a_usage_error(
    scratch: pytest.Pytester, option: str, message: str
) -> None:
    result = scratch.runpytest_subprocess(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_the_same_runtime_name_twice_from_the_hook_is_an_error(scratch: pytest.Pytester) -> None:
    scratch.makeconftest(
        """
        import scratch

        def pytest_ctxprop_runtimes(config):
            return {"stdlib.thread": scratch.Minimal}
        """
    )
    result = scratch.runpytest_subprocess("--ctxprop-runtime=stdlib.thread")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: runtime name 'stdlib.thread' is selected twice*"])
