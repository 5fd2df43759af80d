"""``ctxprop matrix --all`` (and ``--jobs``): many rows in several bounded child sessions.

The rows are split into batches (:func:`batches`: the rows that start worker
processes first, a few a session, so no slow row ends last; then the light
rows, many a session, as a session's start-up costs more than their checks);
up to ``jobs`` child pytest sessions run at once, each bounded exactly like the
single ``ctxprop matrix`` child.  Their reports are merged into one
``ctxprop-report/1`` document.

A row never hangs the command or loses the others' verdicts: when a session
hangs, the row that was running is reported as an ``error`` at the check
that hung (its other checks ``not run``), the session is stopped, and the other
rows of its batch run again in a new session (their verdicts went with it).  A batch
that could not run at all (a broken entry point is a usage error for its
whole session) is split and its rows run one by one; a single row that cannot
run is reported as ``error`` on every check, with pytest's message.
"""

from __future__ import annotations

import fnmatch
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pytest_ctxprop._builtin import BUILTIN_RUNTIMES
from pytest_ctxprop._progress import DONE, START
from pytest_ctxprop._versions import ordered

ENTRY_POINT_GROUP = "ctxprop.runtimes"
#: heavy rows per child session: small enough to balance the slots, large enough to share start-up
ROWS_PER_SESSION = 4
#: light rows per child session: their checks take milliseconds, a session's start-up seconds
LIGHT_ROWS_PER_SESSION = 12
#: Rows whose every check starts worker processes by fork server or spawn (a second or
#: more a check; a light row, a plain fork included, takes milliseconds), by name, so
#: nothing is imported to tell.  In the order their sessions start, slowest first
#: (longest processing time first: none ends last); the fork-server rows together, so
#: fewer sessions pay for that server's imports.  A row named nowhere here is scheduled
#: as light: a wrong guess costs time, never a verdict.
HEAVY_ROWS = (
    "dask.processes*", "celery.worker*", "rq.*", "taskiq.redis*", "docket.redis*",
    "dramatiq.worker*", "arq.*", "loky", "*pool_spawn", "reference.process*",
    "reference.redis_queue*", "wool.routine",
)  # fmt: skip
_PROPERTY = re.compile(r"::test_([A-Z]+[0-9]*)_")


def all_rows(patterns: Sequence[str] = ()) -> list[str]:
    """Every built-in runtime and every installed ``ctxprop.runtimes`` entry point.

    ``patterns`` (shell globs) keep only the matching names; the order is
    :func:`pytest_ctxprop._versions.ordered`.
    """
    names = [*BUILTIN_RUNTIMES, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))]
    if patterns:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    return ordered(names)


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def heaviness(row: str) -> int | None:
    """The row's place in :data:`HEAVY_ROWS` (0 is the slowest), or None for a light row."""
    for rank, pattern in enumerate(HEAVY_ROWS):
        if fnmatch.fnmatchcase(row, pattern):
            return rank
    return None


def batches(rows: Sequence[str], jobs: int) -> list[list[str]]:
    """The heavy rows' batches first, slowest first, then the light rows' batches.

    At most ROWS_PER_SESSION heavy or LIGHT_ROWS_PER_SESSION light rows a batch,
    each kind split evenly over at least ``jobs`` batches; rows of one
    library stay together (one session imports it once).
    """
    rank = {row: heaviness(row) for row in rows}
    heavy = sorted((r for r in rows if rank[r] is not None), key=lambda r: rank[r] or 0)
    light = [r for r in rows if rank[r] is None]
    return _split(heavy, ROWS_PER_SESSION, jobs) + _split(light, LIGHT_ROWS_PER_SESSION, jobs)


def _split(rows: Sequence[str], most: int, jobs: int) -> list[list[str]]:
    if not rows:
        return []
    count = max(min(max(jobs, 1), len(rows)), -(-len(rows) // most))
    size = -(-len(rows) // count)
    return [list(rows[i : i + size]) for i in range(0, len(rows), size)]


def runtime_properties() -> list[str]:
    from ctxprop_conformance.properties import coverage

    return [
        pid
        for section in coverage()
        if section["checked_against"] == "runtime"
        for pid in section["checked"]  # type: ignore[union-attr]
    ]


@dataclass
class Outcome:
    """What one child session left: its report, or how it hung or broke."""

    batch: list[str]
    report: dict[str, Any] | None = None
    hung: str | None = None
    returncode: int | None = None
    tail: list[str] = field(default_factory=list)
    running: str | None = None
    running_nodeid: str | None = None


class Board:
    """Progress on stderr, numbered across every session."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.lock = threading.Lock()
        self.seen: set[str] = set()

    def started(self, name: str) -> None:
        from pytest_ctxprop._child_session import err

        with self.lock:
            if name in self.seen:  # again, after its session hung on another row
                err(f"  [again] {name} ...")
                return
            self.seen.add(name)
            err(f"  [{len(self.seen)}/{self.total}] {name} ...")

    def done(self, name: str, counts: str, took: float) -> None:
        from pytest_ctxprop._child_session import err

        with self.lock:
            err(f"  [done] {name}: {counts} ({took:.1f}s)")


def _session_run(board: Board) -> type:
    from pytest_ctxprop._child_session import ChildRun

    class SessionRun(ChildRun):
        """One child session of a batch; records what ran last."""

        def __init__(self, *args: Any) -> None:
            self.running: str | None = None
            self.running_nodeid: str | None = None
            super().__init__(*args)

        def _progress(self, line: str) -> None:
            if START in line:
                nodeid = line.split(START, 1)[1]
                self.last_progress = f"{START}{nodeid}"
                name = nodeid.rsplit("[", 1)[-1].removesuffix("]")
                self.running, self.running_nodeid = name, nodeid
                if name not in self.started:
                    self.started[name] = time.perf_counter()
                    board.started(name)
            elif DONE in line:
                name, _, counts = line.split(DONE, 1)[1].partition(": ")
                took = time.perf_counter() - self.started.get(name, time.perf_counter())
                board.done(name, counts, took)
            else:
                self.tail.append(line)

    return SessionRun


class Sessions:
    """Runs batches of rows, ``jobs`` child sessions at a time, until every row has a verdict."""

    def __init__(self, rows: Sequence[str], *, jobs: int, timeout: float) -> None:
        self.rows = list(rows)
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.board = Board(len(self.rows))
        self.run_class = _session_run(self.board)
        self.active: dict[int, Any] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.tmp = tempfile.mkdtemp(prefix="ctxprop-matrix-all-")
        self.sessions = 0

    def _one(self, number: int, batch: list[str], done: queue.Queue[Outcome]) -> None:
        from pytest_ctxprop._child_session import Bounds, child_command, read_report, stop_child

        folder = Path(self.tmp, f"session-{number}")
        outcome = Outcome(batch)
        try:
            folder.mkdir()
            report = folder / "report.json"
            command = child_command(str(folder), report, batch, self.timeout)
            bounds = Bounds.for_run(len(batch), self.timeout)
            run = self.run_class(command, str(folder), batch, bounds)
            with self.lock:
                self.active[number] = run
            if self.stopping.is_set():
                stop_child(run.proc)
            outcome.hung = run.wait()
            stop_child(run.proc)
            outcome.returncode = run.proc.returncode
            outcome.tail = list(run.tail)
            outcome.running, outcome.running_nodeid = run.running, run.running_nodeid
            if outcome.hung is None:
                data = read_report(report)
                if data and data.get("complete") and run.proc.returncode in (0, 1):
                    outcome.report = data
        except Exception as exc:  # a session that cannot even start is its rows' error
            outcome.tail.append(f"{type(exc).__name__}: {exc}")
        finally:
            with self.lock:
                self.active.pop(number, None)
            shutil.rmtree(folder, ignore_errors=True)
            done.put(outcome)

    def stop(self) -> None:
        """Stop every running child (on SIGTERM/SIGINT); their folders go with ``close``."""
        from pytest_ctxprop._child_session import stop_child

        self.stopping.set()
        with self.lock:
            runs = list(self.active.values())
        for run in runs:
            stop_child(run.proc)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Child reports, and synthetic results for rows that hung or could not run."""
        pending = deque(batches(self.rows, self.jobs))
        done: queue.Queue[Outcome] = queue.Queue()
        reports: list[dict[str, Any]] = []
        synthetic: list[dict[str, Any]] = []
        running = 0
        while pending or running:
            while pending and running < self.jobs and not self.stopping.is_set():
                self.sessions += 1
                threading.Thread(
                    target=self._one, args=(self.sessions, pending.popleft(), done), daemon=True
                ).start()
                running += 1
            outcome = done.get()  # a signal interrupts this wait (the handler raises)
            running -= 1
            if outcome.report is not None:
                reports.append(outcome.report)
            elif outcome.hung is not None and outcome.running in outcome.batch:
                synthetic += hung_results(outcome)
                # the finished rows' verdicts went with the session: run them again
                rest = [r for r in outcome.batch if r != outcome.running]
                if rest:
                    pending.appendleft(rest)
            elif len(outcome.batch) > 1:
                pending.extendleft([r] for r in reversed(outcome.batch))
            else:
                synthetic += broken_results(outcome)
        return reports, synthetic


def _reason_lines(tail: Iterable[str]) -> str:
    lines = [line for line in tail if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR", "E ", "INTERNALERROR"))]
    return "\n".join((errors or lines)[-10:]) or "no output"


def hung_results(outcome: Outcome) -> list[dict[str, Any]]:
    """The row that was running when its session hung: ``error`` there, the rest not run."""
    row, nodeid = outcome.running or "", outcome.running_nodeid or ""
    match = _PROPERTY.search(nodeid)
    hung_pid = match.group(1) if match else None
    results = []
    for pid in runtime_properties():
        if pid == hung_pid:
            results.append({
                "runtime": row, "property": pid, "verdict": "error", "nodeid": nodeid,
                "reason": f"hung: {outcome.hung}; the row's session was stopped", "ran": True,
            })  # fmt: skip
        else:
            results.append({
                "runtime": row, "property": pid, "verdict": None, "nodeid": "", "ran": False,
                "reason": f"not run: the row's session was stopped when {hung_pid} hung",
            })  # fmt: skip
    return results


def broken_results(outcome: Outcome) -> list[dict[str, Any]]:
    """A row whose session could not run: ``error`` on every check, with pytest's message."""
    (row,) = outcome.batch
    why = f"it hung ({outcome.hung})" if outcome.hung else f"pytest exit {outcome.returncode}"
    reason = f"the row could not run ({why}): {_reason_lines(outcome.tail)}"
    return [
        {
            "runtime": row,
            "property": pid,
            "verdict": "error",
            "reason": reason,
            "nodeid": "",
            "ran": False,
        }
        for pid in runtime_properties()
    ]


def merge(
    reports: list[dict[str, Any]], synthetic: list[dict[str, Any]], args: list[str]
) -> dict[str, Any]:
    """One ``ctxprop-report/1`` from the sessions' reports and the synthetic rows."""
    from ctxprop_conformance.properties import PROPERTIES
    from pytest_ctxprop._report import SCHEMA
    from pytest_ctxprop._verdicts import Verdict

    base = dict(reports[0]) if reports else _empty_report()
    runtimes: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    deselected: list[dict[str, str]] = []
    selected = 0
    for part in reports:
        runtimes.update(part["runtimes"])
        results += part["results"]
        deselected += part["selection"]["deselected"]
        selected += part["selection"]["selected"]
    for row in dict.fromkeys(r["runtime"] for r in synthetic):
        runtimes.setdefault(row, {"traits": {}, "unavailable": None})
    results += synthetic
    selected += len(synthetic)
    order = {pid: i for i, pid in enumerate(PROPERTIES)}
    results.sort(key=lambda r: (r["runtime"], order.get(r["property"], len(order))))
    summary = {v.value: 0 for v in Verdict}
    for r in results:
        if r["verdict"] is not None:
            summary[r["verdict"]] += 1
    not_run = sum(r["verdict"] is None for r in results)
    complete = not synthetic and all(p["complete"] for p in reports)
    statuses = [p["exit_status"] for p in reports if p["exit_status"] is not None]
    failed = not complete or any(
        Verdict(r["verdict"]).fails_session for r in results if r["verdict"]
    )
    return {
        **base,
        "schema": SCHEMA,
        "complete": complete,
        "exit_status": max(statuses) if statuses else None,
        "runtimes": {name: runtimes[name] for name in ordered(runtimes)},
        "selection": {
            "args": args,
            "keyword": None,
            "markexpr": None,
            "selected": selected,
            "not_run": not_run,
            "deselected": deselected,
        },
        "results": results,
        "summary": summary,
        "failed": failed,
    }


def _empty_report() -> dict[str, Any]:
    import platform
    import sys

    from ctxprop_conformance.properties import SPEC_VERSION, coverage
    from pytest_ctxprop import __version__

    return {
        "suite_version": __version__,
        "spec_version": SPEC_VERSION,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": sys.platform,
        "contextvars": {},
        "coverage": coverage(),
    }
