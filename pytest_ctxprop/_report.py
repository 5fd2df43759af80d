"""Verdicts from pytest reports, and the JSON report ``ctxprop-report/1``.

The report is written atomically twice: once as the session starts, marked
``complete: false, failed: true``, and again as it ends.  A session that dies
on the way (INTERNALERROR, ``os._exit``, a signal) leaves the first one, so a
report is never mistaken for a complete, passing run.  The schema is the
package's ``report.schema.json`` and docs/report.md.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from pytest_ctxprop._verdicts import (
    Inconclusive,
    NotApplicable,
    PropertyViolation,
    Verdict,
)

SCHEMA = "ctxprop-report/1"
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
_NORMAL_END = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)


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
        what = "" if excinfo is None else _describe(excinfo.value)
        return {"verdict": Verdict.ERROR.value, "reason": f"{report.when} broke: {what}"}
    if report.when == "call" and report.passed:
        return {"verdict": Verdict.PASS.value, "reason": ""}
    if report.skipped and excinfo is not None:
        return {"verdict": Verdict.NA.value, "reason": f"skipped: {excinfo.value}"}
    return None


def _describe(exc: BaseException) -> str:
    """``Type: message``, and every sub-exception of a group (pytest groups unraisables)."""
    what = f"{type(exc).__name__}: {exc}"
    subs = getattr(exc, "exceptions", None)  # an ExceptionGroup, or the 3.10 backport's
    if isinstance(subs, tuple):
        what += "".join(f"\n  [{n}] {_describe(sub)}" for n, sub in enumerate(subs, 1))
    return what


def check_ref(nodeid: str, subject: str, pid: str) -> dict[str, str]:
    return {"runtime": subject, "property": pid, "nodeid": nodeid}


class VerdictStore:
    """The verdicts of a session, keyed by (subject, property), and what was selected."""

    def __init__(self, runtimes: list[Any], impls: list[Any], selection: dict[str, Any]) -> None:
        self.runtimes = runtimes
        self.impls = impls
        self.selection = selection
        self.results: dict[tuple[str, str], dict[str, Any]] = {}
        self.selected: dict[str, dict[str, str]] = {}
        self.deselected: dict[str, dict[str, str]] = {}

    def expect(self, checks: Iterable[dict[str, str]]) -> None:
        """Checks the session will run (after -k, -m, --deselect and path arguments)."""
        for check in checks:
            self.selected.setdefault(check["nodeid"], check)

    def deselect(self, checks: Iterable[dict[str, str]]) -> None:
        for check in checks:
            self.deselected.setdefault(check["nodeid"], check)

    def record(self, data: dict[str, Any], nodeid: str, *, ran: bool) -> None:
        key = (data["subject"], data["property"])
        notes = [n for n in data.get("notes", ()) if n]
        previous = self.results.get(key)
        ran = ran or bool(previous and previous["ran"])
        # a later phase (teardown) can only make things worse, never better
        if previous and previous["verdict"] == Verdict.ERROR.value:
            previous["ran"] = ran
            return
        self.results[key] = {
            "runtime": data["subject"],
            "property": data["property"],
            "verdict": data["verdict"],
            "reason": data["reason"] or "; ".join(notes),
            "nodeid": nodeid,
            "ran": ran,
        }

    def to_json(self, *, complete: bool, exit_status: int | None) -> dict[str, Any]:
        from ctxprop_conformance.properties import PROPERTIES, SPEC_VERSION, coverage
        from pytest_ctxprop import __version__

        order = {pid: i for i, pid in enumerate(PROPERTIES)}
        rows = list(self.results.values())
        decided = {(r["runtime"], r["property"]) for r in rows}
        rows += [  # selected, never reported: the session stopped before them
            {**c, "verdict": None, "reason": "not run: the session ended first", "ran": False}
            for c in self.selected.values()
            if (c["runtime"], c["property"]) not in decided
        ]
        rows.sort(key=lambda r: (r["runtime"], order.get(r["property"], len(order))))
        summary = {v.value: 0 for v in Verdict}
        for r in rows:
            if r["verdict"] is not None:
                summary[r["verdict"]] += 1
        not_run = sum(r["verdict"] is None for r in rows)
        complete = complete and not_run == 0
        return {
            "schema": SCHEMA,
            "suite_version": __version__,
            "spec_version": SPEC_VERSION,
            "python": platform.python_version(),
            "implementation": sys.implementation.name,
            "platform": sys.platform,
            "complete": complete,
            "exit_status": exit_status,
            "runtimes": {
                r.name: {"traits": r.traits.as_dict(), "unavailable": r.unavailable}
                for r in self.runtimes
            },
            "contextvars": {i.name: {"deviations": dict(i.deviations)} for i in self.impls},
            "coverage": coverage(),
            "selection": {
                **self.selection,
                "selected": len(self.selected) or len(rows),
                "not_run": not_run,
                "deselected": sorted(
                    self.deselected.values(), key=lambda c: (c["runtime"], c["nodeid"])
                ),
            },
            "results": rows,
            "summary": summary,
            "failed": not complete
            or any(Verdict(r["verdict"]).fails_session for r in rows if r["verdict"]),
        }

    def write(self, path: Path, *, complete: bool, exit_status: int | None) -> None:
        """Replace ``path`` atomically: a reader sees the old report or the new one."""
        write_json_atomically(path, self.to_json(complete=complete, exit_status=exit_status))

    def finish(self, path: Path, exit_status: int) -> None:
        self.write(path, complete=exit_status in _NORMAL_END, exit_status=int(exit_status))


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
