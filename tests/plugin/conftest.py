"""Scratch projects for plugin tests: a pytester directory with ``scratch.py`` in it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCRATCH = Path(__file__).with_name("scratch_runtimes.py")


def validate_report(data: dict[str, Any]) -> dict[str, Any]:
    """Every report a test sees must match the shipped JSON Schema."""
    import jsonschema

    from pytest_ctxprop._report import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    return data


@pytest.fixture
def check_report() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Validate a report against ``report.schema.json`` (and return it)."""
    return validate_report


@pytest.fixture
def scratch(pytester: pytest.Pytester) -> pytest.Pytester:
    """A downstream project that defines its runtimes in ``scratch.py``."""
    pytester.makepyfile(scratch=SCRATCH.read_text(encoding="utf-8"))
    pytester.syspathinsert()
    return pytester


@dataclass
class SuiteRun:
    """A finished pytest run of the suite and its JSON report."""

    result: pytest.RunResult
    report: dict[str, Any]

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    def verdicts(self, runtime: str) -> dict[str, str]:
        return {
            r["property"]: r["verdict"] for r in self.report["results"] if r["runtime"] == runtime
        }

    def reason(self, runtime: str, prop: str) -> str:
        (row,) = [
            r for r in self.report["results"] if (r["runtime"], r["property"]) == (runtime, prop)
        ]
        return str(row["reason"])


@pytest.fixture
def run_suite(pytester: pytest.Pytester) -> Callable[..., SuiteRun]:
    """Run pytest (the suite, with whatever is selected) in a subprocess."""

    def run(*args: str) -> SuiteRun:
        report = pytester.path / "ctxprop-report.json"
        report.unlink(missing_ok=True)
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", f"--ctxprop-report={report}", *args
        )
        data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
        return SuiteRun(result, validate_report(data) if data else data)

    return run
