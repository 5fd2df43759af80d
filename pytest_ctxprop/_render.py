"""The matrix as text: the terminal grid, a Markdown table, and what the suite covers.

Coverage comes with every matrix: each SPEC section is listed with the
properties this suite version checks and the ones it does not, so a section
that is not checked reads as such, never as a blank.
"""

from __future__ import annotations

from typing import Any

from pytest_ctxprop._verdicts import Verdict

SYMBOLS: dict[str, str] = {
    Verdict.PASS.value: ".",
    Verdict.FAIL.value: "F",
    Verdict.DEVIATION.value: "D",
    Verdict.NA.value: "-",
    Verdict.INCONCLUSIVE.value: "?",
    Verdict.ERROR.value: "E",
}
NOT_RUN = " "
LEGEND = ". pass  F fail  D deviation (declared)  - n/a  ? inconclusive  E error"


def _grid(report: dict[str, Any]) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    from ctxprop_conformance.properties import PROPERTIES
    from pytest_ctxprop._versions import ordered

    cells = {(r["runtime"], r["property"]): r["verdict"] for r in report["results"]}
    subjects = ordered(r["runtime"] for r in report["results"])  # as the published pages
    seen = {pid for _, pid in cells}
    columns = [pid for pid in PROPERTIES if pid in seen]
    return subjects, columns, cells


def _ids(ids: list[str]) -> str:
    """``F1-F9``, ``T1-T10, TP``: runs of consecutive numbers as ranges."""
    runs: list[list[tuple[str, int]]] = []
    for pid in ids:
        prefix, digits = pid.rstrip("0123456789"), pid[len(pid.rstrip("0123456789")) :]
        key = (prefix, int(digits) if digits else -1)
        last = runs[-1][-1] if runs else None
        if last and digits and last[0] == prefix and last[1] == key[1] - 1:
            runs[-1].append(key)
        else:
            runs.append([key])
    text = []
    for run in runs:
        first, last = (f"{p}{n}" if n >= 0 else p for p, n in (run[0], run[-1]))
        text.append(first if len(run) == 1 else f"{first}-{last}")
    return ", ".join(text)


def coverage_lines(report: dict[str, Any]) -> list[str]:
    """One line per SPEC section: what this suite version checks, and against what."""
    lines = [f"coverage (suite {report['suite_version']}, SPEC {report['spec_version']}):"]
    width = max(len(s["title"]) for s in report["coverage"]) + 2
    for section in report["coverage"]:
        checked, not_checked = section["checked"], section["not_checked"]
        label = f"  {section['section']} {section['title']:<{width}}"
        if not checked:
            text = f"not checked by this suite version ({_ids(not_checked)})"
        else:
            text = f"{_ids(checked)} checked against {section['checked_against']}"
            if not_checked:
                text += f"; not checked: {_ids(not_checked)}"
        lines.append(f"{label}{text}")
    return lines


def render_terminal(report: dict[str, Any]) -> str:
    """Subjects x property IDs, one character a cell, with a legend, totals and coverage."""
    subjects, columns, cells = _grid(report)
    width = max([len(s) for s in subjects] + [7])
    header = " " * width + "  " + " ".join(f"{c:<3}" for c in columns)
    lines = [header]
    for s in subjects:
        row = " ".join(f"{SYMBOLS.get(cells.get((s, c)) or '', NOT_RUN):<3}" for c in columns)
        lines.append(f"{s:<{width}}  {row}".rstrip())
    totals = ", ".join(f"{n} {v}" for v, n in report["summary"].items() if n)
    selection = report.get("selection", {})
    extra = []
    if selection.get("not_run"):
        extra.append(f"{selection['not_run']} not run")
    if selection.get("deselected"):
        extra.append(f"{len(selection['deselected'])} deselected")
    lines += ["", LEGEND, f"totals: {', '.join(filter(None, [totals, *extra]))}"]
    if not report.get("complete", True):
        lines.append("INCOMPLETE: the session did not run every selected check")
    lines += ["", *coverage_lines(report)]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any]) -> str:
    subjects, columns, cells = _grid(report)
    lines = [
        "| runtime | " + " | ".join(columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for s in subjects:
        row = " | ".join(cells.get((s, c)) or "not run" for c in columns)
        lines.append(f"| {s} | {row} |")
    lines += ["", f"Python {report['python']} ({report['implementation']}, {report['platform']})"]
    lines += ["", "| section | checked | not checked |", "| --- | --- | --- |"]
    for section in report["coverage"]:
        lines.append(
            f"| {section['section']} {section['title']} | {', '.join(section['checked']) or '-'} "
            f"| {', '.join(section['not_checked']) or '-'} |"
        )
    return "\n".join(lines)


def publish_grid(
    report: dict[str, Any],
) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """Rows (built-ins first, ``+ctxprop`` rows after their plain rows), columns, results."""
    from pytest_ctxprop._versions import ordered

    _, columns, _ = _grid(report)
    cells = {(r["runtime"], r["property"]): r for r in report["results"]}
    rows = ordered([*report.get("runtimes", {}), *(r["runtime"] for r in report["results"])])
    return rows, columns, cells
