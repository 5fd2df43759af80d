"""``ctxprop``: the command line.  ``ctxprop matrix`` runs the suite on the built-in
runtimes (or the ones named) and prints the verdict matrix.

The suite runs in a child pytest in an empty temp folder, so no project's
conftest or ini changes what it measures; specs still resolve from the current
folder (it is put on the child's ``PYTHONPATH``).  The child is bounded (see
``bounds``), prints progress, and is stopped, its folder removed, on SIGTERM
and SIGINT.  Exit status: 0 when the suite ran (1 with ``--fail-on`` and such a
verdict), 2 when the child hung, pytest's own status when it could not run,
128 + the signal number when stopped by a signal.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pytest_ctxprop._builtin import BUILTIN_RUNTIMES
from pytest_ctxprop._progress import DONE, START
from pytest_ctxprop._render import render_markdown, render_terminal

VERDICTS = ("pass", "fail", "deviation", "n/a", "inconclusive", "error")
DESCRIPTION = (
    "Run the ctxprop conformance suite and print the verdict matrix. "
    "In a project's own test run use pytest -p ctxprop --ctxprop-runtime=SPEC instead."
)
#: a check ends within CHECK_FACTOR x --timeout (+ CHECK_SLACK) or is taken as hung
CHECK_FACTOR = 2
CHECK_SLACK = 5.0
#: collection, imports and interpreter start-up of the child, before its first check
STARTUP = 60.0


def runtime_checks() -> int:
    """Properties this suite version checks against each runtime (from its coverage)."""
    from ctxprop_conformance.properties import coverage

    return sum(
        len(section["checked"])  # type: ignore[arg-type]
        for section in coverage()
        if section["checked_against"] == "runtime"
    )


_EXIT_HUNG = 2


@dataclass(frozen=True)
class Bounds:
    """How long the child may go without progress, and how long in all."""

    stall: float
    total: float

    @classmethod
    def for_run(cls, runtimes: int, timeout: float) -> Bounds:
        per_check = CHECK_FACTOR * timeout + CHECK_SLACK
        return cls(stall=per_check, total=STARTUP + runtimes * runtime_checks() * per_check)


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _seconds(text: str) -> float:
    from pytest_ctxprop._settings import positive_seconds

    value = positive_seconds(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r}: need a finite number of seconds > 0")
    return value


def _verdicts(text: str) -> frozenset[str]:
    chosen = frozenset(v.strip() for v in text.split(",") if v.strip())
    unknown = sorted(chosen - set(VERDICTS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"{text!r}: need verdicts from {', '.join(VERDICTS)}, comma-separated"
        )
    return chosen


def _parser() -> argparse.ArgumentParser:
    from pytest_ctxprop import __version__

    parser = argparse.ArgumentParser(prog="ctxprop", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"ctxprop {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    matrix = commands.add_parser(
        "matrix",
        help="run the suite and print the verdict matrix",
        description="Run the suite in a child pytest and print the matrix; progress on stderr.",
    )
    fmt = matrix.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the JSON report")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table")
    matrix.add_argument(
        "--runtime",
        action="append",
        metavar="SPEC",
        help="a runtime spec as for --ctxprop-runtime, resolved from the current folder "
        "(default: every built-in runtime); repeatable",
    )
    matrix.add_argument("--output", metavar="FILE.json", help="also keep the JSON report here")
    matrix.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="bound on each wait for a task, as --ctxprop-timeout (default 10)",
    )
    matrix.add_argument(
        "--fail-on",
        type=_verdicts,
        default=frozenset(),
        metavar="VERDICTS",
        help="exit 1 when any verdict is one of these, e.g. fail,error (for CI)",
    )
    _publish_options(matrix)
    commands.add_parser("list", help="list the built-in runtime names")
    return parser


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need a whole number >= 1")
    return value


def _publish_options(matrix: argparse.ArgumentParser) -> None:
    matrix.add_argument(
        "--all",
        action="store_true",
        help="every built-in runtime and every installed ctxprop.runtimes entry point "
        "(a row whose library is missing is n/a), in parallel sessions",
    )
    matrix.add_argument(
        "--rows",
        action="append",
        metavar="GLOB",
        help="with --all: only the rows whose names match, e.g. 'gevent.*'; repeatable",
    )
    matrix.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help="child sessions at once, a few rows each (default with --all: the CPU count, "
        "at most 4); a hung row is reported and the others still run",
    )
    matrix.add_argument(
        "--publish",
        nargs="?",
        const="docs",
        metavar="DIR",
        help="write DIR/matrix.md, DIR/matrix.html and DIR/matrix.json (default DIR: docs)",
    )
    matrix.add_argument(
        "--summary",
        metavar="FILE.md",
        help="write a Markdown summary here (default with --all or --publish: appended to "
        "$GITHUB_STEP_SUMMARY when that is set)",
    )


@contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGTERM (and SIGINT) end the run through ``finally`` blocks: child and folder go."""

    def stop(signum: int, frame: Any) -> None:
        raise _Stopped(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _stop_child(proc: subprocess.Popen[str]) -> None:
    """Terminate the child's whole process group (pool workers included)."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGCONT):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


class _Run:
    """The child session: its output, progress and bounds."""

    def __init__(self, command: list[str], cwd: str, names: list[str], bounds: Bounds) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        self.names = names
        self.bounds = bounds
        self.tail: deque[str] = deque(maxlen=60)
        self.last_progress = "(no check started)"
        self.started: dict[str, float] = {}
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        self.reader = threading.Thread(
            target=_lines, args=(self.proc.stdout, self.lines), daemon=True
        )
        self.reader.start()

    def _progress(self, line: str) -> None:
        if START in line:
            nodeid = line.split(START, 1)[1]
            self.last_progress = f"{START}{nodeid}"
            name = nodeid.rsplit("[", 1)[-1].removesuffix("]")
            if name not in self.started:
                self.started[name] = time.perf_counter()
                err(f"  [{len(self.started)}/{len(self.names)}] {name} ...")
        elif DONE in line:
            name, _, counts = line.split(DONE, 1)[1].partition(": ")
            took = time.perf_counter() - self.started.get(name, time.perf_counter())
            err(f"  [{len(self.started)}/{len(self.names)}] {name}: {counts} ({took:.1f}s)")
        else:
            self.tail.append(line)

    def wait(self) -> str | None:
        """Follow the child to its end; a description of what hung, or None."""
        began = last = time.perf_counter()
        stall = STARTUP + self.bounds.stall  # until the first check starts
        while True:
            now = time.perf_counter()
            left = min(last + stall - now, began + self.bounds.total - now)
            if left <= 0:
                what = "the run" if now - began >= self.bounds.total else "one check"
                limit = self.bounds.total if what == "the run" else stall
                return f"{what} took longer than {limit:g}s; last progress: {self.last_progress}"
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait()
                return None
            if START in line or DONE in line:
                last, stall = time.perf_counter(), self.bounds.stall
            self._progress(line)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


#: plugins that take no part in a runtime check and cost every child session seconds of
#: CPU: Hypothesis's imports Hypothesis for its terminal summary, anyio's imports trio
#: to list its backends (a row that uses either library imports it itself)
_IDLE_PLUGINS = ("hypothesispytest", "anyio")


def _command(tmp: str, report: Path, specs: list[str], timeout: float) -> list[str]:
    ini = Path(tmp, "pytest.ini")
    ini.write_text("[pytest]\n", encoding="utf-8")
    return [
        sys.executable, "-m", "pytest", "-p", "ctxprop", "-c", str(ini), "--rootdir", tmp,
        "-p", "no:cacheprovider", *(f"-pno:{name}" for name in _IDLE_PLUGINS),
        "-q", "--no-header", "--tb=no", "--ctxprop-progress",
        f"--ctxprop-timeout={timeout}", f"--ctxprop-report={report}",
        *(f"--ctxprop-runtime={spec}" for spec in specs),
    ]  # fmt: skip


def _writable(option: str, value: str | None, *, folder: bool = False, make: bool = False) -> bool:
    if value is None:
        return True
    path = Path(value).resolve()
    parent = path if folder else path.parent
    while (folder or make) and not parent.exists() and parent != parent.parent:
        parent = parent.parent  # --publish and --summary create their folders
    if parent.is_dir() and os.access(parent, os.W_OK):
        return True
    err(f"ctxprop matrix: {option}={value}: folder {parent} is not writable")
    return False


def _run_matrix(args: argparse.Namespace) -> int:
    from pytest_ctxprop._matrix_all import all_rows

    if args.all and args.runtime:
        err("ctxprop matrix: --all and --runtime: give one of them")
        return 4
    if args.rows and not args.all:
        err("ctxprop matrix: --rows selects among the rows of --all")
        return 4
    specs = all_rows(args.rows or ()) if args.all else args.runtime or sorted(BUILTIN_RUNTIMES)
    if not specs:
        err(f"ctxprop matrix: --rows {' '.join(args.rows)}: no row matches")
        return 4
    ok = [
        _writable("--output", args.output),
        _writable("--publish", args.publish, folder=True),
        _writable("--summary", args.summary, make=True),
    ]
    if not all(ok):
        return 4
    if args.all or args.jobs is not None:
        return _run_sessions(args, specs)
    output = Path(args.output).resolve() if args.output else None
    bounds = Bounds.for_run(len(specs), args.timeout)
    err(
        f"ctxprop matrix: {len(specs)} runtime spec(s), each check bounded by {args.timeout:g}s; "
        f"a check is taken as hung after {bounds.stall:g}s, the run after {bounds.total:g}s"
    )
    tmp = tempfile.mkdtemp(prefix="ctxprop-matrix-")
    run: _Run | None = None
    started = time.perf_counter()
    try:
        with _signals_stop():
            report_path = output or Path(tmp, "report.json")
            run = _Run(_command(tmp, report_path, specs, args.timeout), tmp, specs, bounds)
            hung = run.wait()
            if hung is not None:
                _stop_child(run.proc)
                err("\n".join(list(run.tail)[-20:]))
                err(f"ctxprop matrix: the suite hung and was stopped: {hung}")
                return _EXIT_HUNG
            report = _read(report_path)
            if run.proc.returncode not in (0, 1) or not report or not report["complete"]:
                err("\n".join(run.tail))
                err(f"ctxprop matrix: the suite did not run (pytest exit {run.proc.returncode})")
                return run.proc.returncode or _EXIT_HUNG
    except _Stopped as stop:
        err(f"ctxprop matrix: stopped by {stop}")
        return 128 + stop.signum
    finally:
        if run is not None:
            _stop_child(run.proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return _finish(args, report, time.perf_counter() - started)


def _run_sessions(args: argparse.Namespace, specs: list[str]) -> int:
    """``--all`` / ``--jobs``: several bounded child sessions (pytest_ctxprop._matrix_all)."""
    from pytest_ctxprop._matrix_all import ROWS_PER_SESSION, Sessions, default_jobs, merge

    jobs = args.jobs or default_jobs()
    bounds = Bounds.for_run(min(len(specs), ROWS_PER_SESSION), args.timeout)
    err(
        f"ctxprop matrix: {len(specs)} runtime spec(s) in up to {jobs} parallel sessions, each "
        f"check bounded by {args.timeout:g}s; a check is taken as hung after {bounds.stall:g}s, "
        f"a session of {ROWS_PER_SESSION} rows after {bounds.total:g}s"
    )
    started = time.perf_counter()
    sessions = Sessions(specs, jobs=jobs, timeout=args.timeout)
    try:
        with _signals_stop():
            reports, synthetic = sessions.run()
    except _Stopped as stop:
        err(f"ctxprop matrix: stopped by {stop}")
        return 128 + stop.signum
    finally:
        sessions.close()
    report = merge(reports, synthetic, list(args.argv))
    broken = {r["runtime"]: r["reason"] for r in synthetic if r["verdict"] == "error"}
    for row, reason in broken.items():
        err(f"ctxprop matrix: {row}: {reason.splitlines()[0]}")
    status = _finish(args, report, time.perf_counter() - started, annotate=True)
    if broken:
        err(f"ctxprop matrix: {len(broken)} row(s) hung or could not run (reported as error)")
        return _EXIT_HUNG
    return status


def _finish(
    args: argparse.Namespace, report: dict[str, Any], elapsed: float, *, annotate: bool = False
) -> int:
    """Print (and publish) the matrix; the exit status --fail-on asks for."""
    import shlex

    from pytest_ctxprop import _publish

    summary = _publish.summary_target(args.summary) if (
        args.summary or args.all or args.publish
    ) else None  # fmt: skip
    if annotate or args.publish or summary:
        _publish.annotate(report)
        if args.output:
            from pytest_ctxprop._report import write_json_atomically

            write_json_atomically(Path(args.output).resolve(), report)
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.markdown:
        print(render_markdown(report))
    else:
        print(render_terminal(report))
    command = "ctxprop " + shlex.join(args.argv)
    if args.publish:
        written = _publish.publish_docs(report, Path(args.publish), command)
        err(f"ctxprop matrix: wrote {', '.join(map(str, written))}")
    if summary:
        err(f"ctxprop matrix: summary in {_publish.write_summary(report, summary)}")
    err(
        f"\nctxprop matrix: {len(report['results'])} verdicts on {len(report['runtimes'])} "
        f"runtimes in {elapsed:.1f}s (Python {report['python']})"
    )
    hits = sorted({r["verdict"] for r in report["results"]} & args.fail_on)
    if hits:
        err(f"ctxprop matrix: --fail-on: {', '.join(hits)} verdicts present")
        return 1
    return 0


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    args.argv = argv
    if args.command == "list":
        print("\n".join(sorted(BUILTIN_RUNTIMES)))
        return 0
    return _run_matrix(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
