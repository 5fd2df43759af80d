"""Verdicts from pytest reports, and the matrix: terminal, Markdown and JSON.

The JSON schema is versioned (``SCHEMA``) and documented in docs/report.md.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from typing import Any

import pytest

from pytest_ctxprop._verdicts import (
    Inconclusive,
    NotApplicable,
    PropertyViolation,
    Verdict,
)

SCHEMA = "ctxprop-report/1"

SYMBOLS: dict[str, str] = {
    Verdict.PASS.value: ".",
    Verdict.FAIL.value: "F",
    Verdict.DEVIATION.value: "D",
    Verdict.NA.value: "-",
    Verdict.INCONCLUSIVE.value: "?",
    Verdict.ERROR.value: "E",
}
LEGEND = ". pass  F fail  D deviation (declared)  - n/a  ? inconclusive  E error"


def verdict_of(report: pytest.TestReport, call: pytest.CallInfo[None]) -> dict[str, str] | None:
    """The verdict one phase's report gives, or None when the phase says nothing."""
    excinfo = call.excinfo
    if hasattr(report, "wasxfail") and report.skipped:
        return {"verdict": Verdict.DEVIATION.value, "reason": report.wasxfail}
    if report.when == "call" and report.failed and excinfo is None:  # strict xfail passed
        reason = str(report.longrepr).removeprefix("[XPASS(strict)] ")
        return {
            "verdict": Verdict.ERROR.value,
            "reason": f"declared deviation passed: remove it ({reason})",
        }
    if excinfo is not None and excinfo.errisinstance(NotApplicable):
        return {"verdict": Verdict.NA.value, "reason": str(excinfo.value.msg).removeprefix("n/a: ")}
    if excinfo is not None and excinfo.errisinstance(Inconclusive):
        reason = str(excinfo.value.msg).removeprefix("inconclusive: ")
        return {"verdict": Verdict.INCONCLUSIVE.value, "reason": reason}
    if report.failed:
        if (
            report.when == "call"
            and excinfo is not None
            and excinfo.errisinstance(PropertyViolation)
        ):
            return {"verdict": Verdict.FAIL.value, "reason": str(excinfo.value)}
        what = "" if excinfo is None else f"{excinfo.typename}: {excinfo.value}"
        return {"verdict": Verdict.ERROR.value, "reason": f"{report.when} broke: {what}"}
    if report.when == "call" and report.passed:
        return {"verdict": Verdict.PASS.value, "reason": ""}
    if report.skipped and excinfo is not None:
        return {"verdict": Verdict.NA.value, "reason": f"skipped: {excinfo.value}"}
    return None


class VerdictStore:
    """The verdicts of a session, keyed by (subject, property)."""

    def __init__(self, runtimes: list[Any], impls: list[Any]) -> None:
        self.runtimes = runtimes
        self.impls = impls
        self.results: dict[tuple[str, str], dict[str, Any]] = {}

    def record(self, data: dict[str, Any], nodeid: str) -> None:
        key = (data["subject"], data["property"])
        notes = [n for n in data.get("notes", ()) if n]
        previous = self.results.get(key)
        # a later phase (teardown) can only make things worse, never better
        if previous and previous["verdict"] == Verdict.ERROR.value:
            return
        reason = data["reason"] or "; ".join(notes)
        self.results[key] = {
            "runtime": data["subject"],
            "property": data["property"],
            "verdict": data["verdict"],
            "reason": reason,
            "nodeid": nodeid,
        }

    def to_json(self) -> dict[str, Any]:
        from ctxprop_conformance.properties import PROPERTIES, SPEC_VERSION
        from pytest_ctxprop import __version__

        order = {pid: i for i, pid in enumerate(PROPERTIES)}
        results = sorted(self.results.values(), key=lambda r: (r["runtime"], order[r["property"]]))
        summary = {v.value: 0 for v in Verdict}
        for r in results:
            summary[r["verdict"]] += 1
        return {
            "schema": SCHEMA,
            "suite_version": __version__,
            "spec_version": SPEC_VERSION,
            "python": platform.python_version(),
            "implementation": sys.implementation.name,
            "platform": sys.platform,
            "runtimes": {
                r.name: {"traits": r.traits.as_dict(), "unavailable": r.unavailable}
                for r in self.runtimes
            },
            "contextvars": {i.name: {"deviations": dict(i.deviations)} for i in self.impls},
            "results": results,
            "summary": summary,
            "failed": any(Verdict(r["verdict"]).fails_session for r in results),
        }

    def write(self, path: str) -> None:
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)


def _grid(report: dict[str, Any]) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    from ctxprop_conformance.properties import PROPERTIES

    cells = {(r["runtime"], r["property"]): r["verdict"] for r in report["results"]}
    subjects = list(dict.fromkeys(r["runtime"] for r in report["results"]))
    seen = {pid for _, pid in cells}
    columns = [pid for pid in PROPERTIES if pid in seen]
    return subjects, columns, cells


def render_terminal(report: dict[str, Any]) -> str:
    """Subjects x property IDs, one character a cell, with a legend and totals."""
    subjects, columns, cells = _grid(report)
    width = max([len(s) for s in subjects] + [7])
    header = " " * width + "  " + " ".join(f"{c:<3}" for c in columns)
    lines = [header]
    for s in subjects:
        row = " ".join(f"{SYMBOLS.get(cells.get((s, c), ''), ' '):<3}" for c in columns)
        lines.append(f"{s:<{width}}  {row}".rstrip())
    totals = ", ".join(f"{n} {v}" for v, n in report["summary"].items() if n)
    lines += ["", LEGEND, f"totals: {totals}"]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any]) -> str:
    subjects, columns, cells = _grid(report)
    lines = [
        "| runtime | " + " | ".join(columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for s in subjects:
        lines.append(f"| {s} | " + " | ".join(cells.get((s, c), "") for c in columns) + " |")
    lines += ["", f"Python {report['python']} ({report['implementation']}, {report['platform']})"]
    return "\n".join(lines)
