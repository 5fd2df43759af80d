"""Publishing the matrix: the Markdown page and summary, library versions, ``--all`` rows.

The HTML page is checked in a real browser in test_matrix_publish_browser.py.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_ctxprop import _publish
from pytest_ctxprop._builtin import BUILTIN_RUNTIMES
from pytest_ctxprop._matrix_all import all_rows, batches, merge
from pytest_ctxprop._publish_html import render_html
from pytest_ctxprop._publish_markdown import MARKS, code, fenced, render_page, render_summary
from pytest_ctxprop._versions import collect_versions, describe, library_of, ordered

FAIL_DIFF = (
    "F1 caller value reaches the task -- runtime stdlib.threadpool\n"
    "  XX  task reads V  expected 'a'\n"
    "                    observed <unset>"
)


def _result(runtime: str, pid: str, verdict: str | None, reason: str = "") -> dict[str, Any]:
    return {
        "runtime": runtime,
        "property": pid,
        "verdict": verdict,
        "reason": reason,
        "nodeid": f"ctxprop_conformance/test_forward.py::test_{pid}_x[{runtime}]",
        "ran": verdict is not None,
    }


def synthetic_report(attack: str = "<b>bold</b>") -> dict[str, Any]:
    """Three rows x F1-F3, every verdict once, a reason with markup (``attack``)."""
    results = [
        _result("stdlib.threadpool", "F1", "fail", FAIL_DIFF),
        _result("stdlib.threadpool", "F2", "pass"),
        _result("stdlib.threadpool", "F3", "n/a", "no worker start: threads are created on demand"),
        _result("celery.delay", "F1", "error", f"broker said: {attack}"),
        _result("celery.delay", "F2", "fail", "a | pipe and ```fences``` in a diff"),
        _result("celery.delay", "F3", None, "not run: the session ended first"),
        _result("celery.delay+ctxprop", "F1", "pass"),
        _result("celery.delay+ctxprop", "F2", "deviation", "declared deviation: we copy late"),
        _result("celery.delay+ctxprop", "F3", "inconclusive", "no server"),
    ]
    summary = dict.fromkeys(("pass", "fail", "deviation", "n/a", "inconclusive", "error"), 0)
    for r in results:
        if r["verdict"]:
            summary[r["verdict"]] += 1
    rows = ("celery.delay+ctxprop", "celery.delay", "stdlib.threadpool")
    return {
        "schema": "ctxprop-report/1",
        "suite_version": "0.1.0",
        "spec_version": "1",
        "python": "3.11.7",
        "implementation": "cpython",
        "platform": "linux",
        "complete": False,
        "exit_status": 1,
        "runtimes": {name: {"traits": {}, "unavailable": None} for name in rows},
        "contextvars": {},
        "coverage": [],
        "selection": {
            "args": [],
            "keyword": None,
            "markexpr": None,
            "selected": 9,
            "not_run": 1,
            "deselected": [],
        },
        "results": results,
        "summary": summary,
        "failed": True,
        "generated": "2026-01-02T03:04:05Z",
        "libraries": {
            "stdlib.threadpool": {"library": "python", "distribution": None, "version": "3.11.7"},
            "celery.delay": {"library": "celery", "distribution": "celery", "version": "5.7.0"},
            "celery.delay+ctxprop": {
                "library": "celery",
                "distribution": "celery",
                "version": "5.7.0",
            },
        },
    }


def _footnote(page: str, runtime: str, pid: str) -> str:
    """The text of the footnote on one cell of the page's table."""
    (line,) = [ln for ln in page.splitlines() if ln.startswith(f"| {code(runtime)} |")]
    cells = [c.strip() for c in line.strip("|").split(" | ")]
    columns = [
        c.strip() for c in page.split("| runtime | library | ", 1)[1].split("\n")[0].split("|")
    ]
    label = re.search(r"\[\^(r\d+)\]", cells[2 + columns.index(pid)])
    assert label, cells
    return page.split(f"\n[^{label.group(1)}]: ", 1)[1].split("\n\n", 1)[0]


def test_the_page_has_legend_versions_date_and_a_footnote_per_judged_cell() -> None:
    page = render_page(synthetic_report(), "ctxprop matrix --all --publish")
    assert "Legend: ✅ pass · ❌ fail" in page
    assert "Generated on 2026-01-02 with pytest-ctxprop 0.1.0 (SPEC 1) on Python 3.11.7" in page
    assert "| `celery.delay` | celery 5.7.0 |" in page
    assert "| `stdlib.threadpool` | Python 3.11.7 (stdlib) |" in page
    assert "**Incomplete**" in page
    # built-in rows first; the +ctxprop row right after its plain row
    rows = [ln.split(" | ")[0] for ln in page.splitlines() if ln.startswith("| `")]
    assert rows == ["| `stdlib.threadpool`", "| `celery.delay`", "| `celery.delay+ctxprop`"]
    fail = _footnote(page, "stdlib.threadpool", "F1")
    assert fail.startswith("**fail**: `stdlib.threadpool` F1\n    ```text\n")
    assert "    observed <unset>" in fail.replace("                    ", "")
    # an n/a keeps its reason for the HTML page and the JSON, not a footnote
    (threads,) = [ln for ln in page.splitlines() if ln.startswith("| `stdlib.threadpool` |")]
    assert threads.endswith(f"{MARKS['n/a']} |")
    assert "**n/a**" not in page
    assert "**not run**" in _footnote(page, "celery.delay", "F3")
    assert "we copy late" in _footnote(page, "celery.delay+ctxprop", "F2")
    # passes carry no footnote
    (line,) = [ln for ln in page.splitlines() if ln.startswith("| `celery.delay+ctxprop` |")]
    assert line.split(" | ")[2] == "✅"


def test_markdown_quotes_what_runtimes_report() -> None:
    page = render_page(synthetic_report(), "ctxprop matrix --all")
    # backtick fences in a reason get a longer fence; markup stays inside a code block
    note = _footnote(page, "celery.delay", "F2")
    assert note.splitlines()[1] == "    ````text"
    assert "<b>bold</b>" not in page.split("## Totals")[0]
    assert code("a|b") == "`a\\|b`"
    assert code("x`y") == "``x`y``"
    assert fenced("```\nrm") == ["````text", "```", "rm", "````"]


def test_the_ci_summary_counts_verdicts_per_row() -> None:
    text = render_summary(synthetic_report())
    assert text.startswith("### ctxprop conformance matrix\n")
    assert "**9 verdicts on 3 rows: 2 pass, 2 fail, 1 deviation, 1 n/a, 1 inconclusive, " in text
    assert "| `celery.delay` | celery 5.7.0 |  | 1 |  |  |  | 1 | 1 |" in text
    assert "| `stdlib.threadpool` | Python 3.11.7 (stdlib) | 1 | 1 |  | 1 |  |  |  |" in text


def test_the_summary_goes_to_github_step_summary_appended(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "step-summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    where = _publish.summary_target(None)
    assert where == (target, True)
    _publish.write_summary(synthetic_report(), where)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### ctxprop conformance matrix")
    explicit = tmp_path / "sub" / "summary.md"
    assert _publish.summary_target(str(explicit)) == (explicit, False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert _publish.summary_target(None) is None


def test_html_escapes_and_is_self_contained() -> None:
    html = render_html(synthetic_report(), 'ctxprop matrix --rows "<x>"')
    assert "<b>bold</b>" not in html
    assert "broker said: &lt;b&gt;bold&lt;/b&gt;" in html
    assert "&quot;&lt;x&gt;&quot;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<link" not in html
    assert "default-src &#x27;none&#x27;" in html  # nothing else may load or run


def test_versions_come_from_installed_metadata() -> None:
    versions = collect_versions(["anyio.to_thread", "pytest.x+ctxprop", "stdlib.thread",
                                 "concurrent.process_pool_fork", "reference.thread",
                                 "surely_no_such_library.row"])  # fmt: skip
    assert versions["anyio.to_thread"] == {
        "library": "anyio", "distribution": "anyio", "version": metadata.version("anyio")
    }  # fmt: skip
    assert versions["pytest.x+ctxprop"]["version"] == metadata.version("pytest")
    assert versions["stdlib.thread"]["version"] == platform.python_version()
    assert versions["concurrent.process_pool_fork"]["distribution"] is None
    assert versions["reference.thread"]["distribution"] == "pytest-ctxprop"
    assert versions["surely_no_such_library.row"]["version"] is None
    assert describe(versions["surely_no_such_library.row"]) == "surely_no_such_library (not found)"
    assert library_of("celery+ctxprop.delay") == "celery"


def test_rows_order_and_batches() -> None:
    names = ["rq.enqueue+ctxprop", "anyio.x", "reference.thread", "rq.enqueue", "stdlib.thread"]
    assert ordered(names) == [
        "stdlib.thread", "reference.thread", "anyio.x", "rq.enqueue", "rq.enqueue+ctxprop"
    ]  # fmt: skip
    nine = [str(i) for i in range(9)]
    assert batches(nine, 2) == [nine[:5], nine[5:]]
    assert batches(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert batches([str(i) for i in range(30)], 1) == [
        [str(i) for i in range(0, 10)], [str(i) for i in range(10, 20)],
        [str(i) for i in range(20, 30)],
    ]  # fmt: skip


def test_batches_start_the_heavy_rows_first_slowest_first() -> None:
    rows = ordered([
        "stdlib.thread", "anyio.x", "rq.worker", "rq.worker+ctxprop", "loky",
        "dask.processes", "celery.worker", "celery.worker+ctxprop", "celery.eager",
    ])  # fmt: skip
    assert batches(rows, 2) == [
        ["dask.processes", "celery.worker", "celery.worker+ctxprop"],
        ["rq.worker", "rq.worker+ctxprop", "loky"],
        ["stdlib.thread", "anyio.x"],
        ["celery.eager"],
    ]


def test_merge_keeps_every_row_and_marks_hung_ones_incomplete(check_report) -> None:
    part = synthetic_report()
    part["complete"], part["failed"] = True, True
    hung = [_result("gevent.spawn", "F1", "error", "hung: one check took longer than 6.5s")]
    merged = check_report(merge([part], hung, ["matrix", "--all"]))
    assert {r["runtime"] for r in merged["results"]} == {*part["runtimes"], "gevent.spawn"}
    assert merged["complete"] is False
    assert merged["failed"] is True
    assert merged["summary"]["error"] == 2
    assert merged["selection"]["args"] == ["matrix", "--all"]


# -- the command -------------------------------------------------------------------------

SCRATCH = Path(__file__).with_name("scratch_runtimes.py")


def _fake_distribution(folder: Path) -> None:
    """An installed distribution declaring two ``ctxprop.runtimes`` entry points."""
    info = folder / "fakerows-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fakerows\nVersion: 1.2.3\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[ctxprop.runtimes]\nfakerows.good = scratch:Good\n"
        "fakerows.missing = scratch:Unavailable\n",
        encoding="utf-8",
    )
    (info / "top_level.txt").write_text("fakerows\n", encoding="utf-8")
    (folder / "fakerows").mkdir()
    (folder / "fakerows" / "__init__.py").write_text("", encoding="utf-8")


def test_all_lists_builtins_and_entry_points(tmp_path: Path, monkeypatch) -> None:
    import importlib

    _fake_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    rows = all_rows()
    assert set(BUILTIN_RUNTIMES) | {"fakerows.good", "fakerows.missing", "anyio.to_thread"} <= set(
        rows
    )
    assert rows[: len(BUILTIN_RUNTIMES)] == ordered(BUILTIN_RUNTIMES)
    assert all_rows(["fakerows.*", "stdlib.thread"]) == [
        "stdlib.thread", "fakerows.good", "fakerows.missing"
    ]  # fmt: skip


def test_matrix_all_publishes_every_output(tmp_path: Path, check_report) -> None:
    """``ctxprop matrix --all`` on three small rows: two entry points (one n/a) and a built-in."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "scratch.py").write_text(
        SCRATCH.read_text(encoding="utf-8")
        + "\n\nclass Unavailable(Good):\n    def __init__(self) -> None:\n"
        "        raise RuntimeUnavailable('fakerows is not installed (pip install fakerows)')\n",
        encoding="utf-8",
    )
    site = tmp_path / "site"
    site.mkdir()
    _fake_distribution(site)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITHUB_STEP_SUMMARY")}
    env |= {"PYTHONPATH": str(site), "SOURCE_DATE_EPOCH": "1767323045"}
    command = [sys.executable, "-m", "pytest_ctxprop._cli", "matrix", "--all",
               "--rows", "fakerows.*", "--rows", "stdlib.thread", "--jobs", "2",
               "--publish", "out", "--summary", "out/summary.md", "--json"]  # fmt: skip
    proc = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    report = check_report(json.loads(proc.stdout))
    assert list(report["runtimes"]) == ["stdlib.thread", "fakerows.good", "fakerows.missing"]
    assert report["runtimes"]["fakerows.missing"]["unavailable"].startswith("fakerows is not")
    missing = {r["verdict"] for r in report["results"] if r["runtime"] == "fakerows.missing"}
    assert missing == {"n/a"}
    assert report["libraries"]["fakerows.good"]["version"] == "1.2.3"
    assert report["generated"] == "2026-01-02T03:04:05Z"
    assert report["complete"] is True
    out = project / "out"
    assert json.loads((out / "matrix.json").read_text(encoding="utf-8")) == report
    page = (out / "matrix.md").read_text(encoding="utf-8")
    assert "Generated on 2026-01-02" in page
    assert "| `fakerows.good` | fakerows 1.2.3 |" in page
    assert "fakerows is not installed (pip install fakerows)" in page
    assert "<!-- generated by ctxprop matrix --all --rows 'fakerows.*'" in page
    html = (out / "matrix.html").read_text(encoding="utf-8")
    assert 'data-runtime="fakerows.missing"' in html
    assert (out / "summary.md").read_text(encoding="utf-8").startswith("### ctxprop")
    assert "[3/3]" in proc.stderr
    assert "in up to 2 parallel sessions" in proc.stderr


def test_all_and_runtime_together_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_ctxprop._cli", "matrix", "--all", "--runtime", "x:Y"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 4
    assert "--all and --runtime: give one of them" in proc.stderr
    rows = subprocess.run(
        [sys.executable, "-m", "pytest_ctxprop._cli", "matrix", "--all", "--rows", "nothing.*"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert rows.returncode == 4
    assert "no row matches" in rows.stderr


def test_a_hung_row_is_reported_and_the_others_kept(tmp_path: Path) -> None:
    spec = "scratch:FreezesProcess"
    (tmp_path / "scratch.py").write_text(SCRATCH.read_text(encoding="utf-8"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITHUB_STEP_SUMMARY")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_ctxprop._cli", "matrix", "--jobs", "1", "--json",
         "--timeout", "0.5", "--runtime", "scratch:Good", "--runtime", spec,
         "--runtime", "scratch:Forgetful"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    verdicts = {(r["runtime"], r["property"]): r for r in report["results"]}
    assert verdicts[("scratch:Good", "F1")]["verdict"] == "pass"
    assert verdicts[("scratch:Forgetful", "F1")]["verdict"] == "fail"
    hung = verdicts[(spec, "F1")]
    assert hung["verdict"] == "error"
    assert hung["reason"].startswith("hung: one check took longer than 6.5s")
    assert verdicts[(spec, "F2")]["verdict"] is None
    assert report["complete"] is False
    assert "1 row(s) hung or could not run" in proc.stderr


def test_a_long_reason_is_shortened_in_the_page_only() -> None:
    report = synthetic_report()
    long = "\n".join(f"line {i}" for i in range(100))
    for row in report["results"]:
        if (row["runtime"], row["property"]) == ("stdlib.threadpool", "F1"):
            row["reason"] = long
    note = _footnote(render_page(report, "ctxprop matrix --all"), "stdlib.threadpool", "F1")
    assert "line 23" in note
    assert "line 24" not in note
    assert "... 76 more lines: matrix.html, matrix.json" in note
