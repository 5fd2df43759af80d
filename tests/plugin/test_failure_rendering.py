"""Conformance failures are rendered as plain text: pytest never parses source for them.

On CPython 3.11 a nested ``ast.parse`` (cpython gh-106905) turns source lookups
into INTERNALERRORs; these tests make any ``ast.parse`` during the run fatal.
"""

from __future__ import annotations

import pytest

FORBID_AST_PARSE = """
import ast

import pytest

_real_parse = ast.parse


def _forbidden(*args, **kwargs):
    raise SystemError("ast.parse called while reporting")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    ast.parse = _forbidden  # collection (assertion rewriting) is over


def pytest_sessionfinish(session):
    ast.parse = _real_parse
"""


@pytest.mark.parametrize("tb", ["auto", "long", "short"])
def test_fail_and_error_render_without_ast_parse(scratch: pytest.Pytester, run_suite, tb) -> None:
    scratch.makeconftest(FORBID_AST_PARSE)
    run = run_suite(
        "--ctxprop-runtime=scratch:Forgetful",
        "--ctxprop-runtime=scratch:Broken",
        "-k",
        "F1",
        f"--tb={tb}",
    )
    out = run.result.stdout.str() + run.result.stderr.str()
    assert "INTERNALERROR" not in out
    assert "ast.parse called" not in out
    assert run.verdicts("scratch:Forgetful") == {"F1": "fail"}
    assert run.verdicts("scratch:Broken") == {"F1": "error"}
    # the error shows its message and a frame list, without source lines
    run.result.stdout.fnmatch_lines(
        ['*File "*scratch.py", line *, in submit', "RuntimeError: adapter exploded"]
    )


def test_a_setup_error_renders_without_ast_parse(scratch: pytest.Pytester, run_suite) -> None:
    scratch.makeconftest(
        FORBID_AST_PARSE
        + """

@pytest.fixture(autouse=True)
def broken_setup(request):
    if "ctxprop_runtime" in request.fixturenames:
        raise LookupError("setup broke here")
"""
    )
    run = run_suite("--ctxprop-runtime=scratch:Good", "-k", "F1")
    out = run.result.stdout.str()
    assert "INTERNALERROR" not in out
    assert run.verdicts("scratch:Good") == {"F1": "error"}
    run.result.stdout.fnmatch_lines(["LookupError: setup broke here"])
