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
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_ctxprop._builtin import BUILTIN_RUNTIMES
from pytest_ctxprop._child_session import (
    EXIT_HUNG,
    Bounds,
    ChildRun,
    Stopped,
    child_command,
    err,
    read_report,
    signals_stop,
    stop_child,
)
from pytest_ctxprop._render import render_markdown, render_terminal

VERDICTS = ("pass", "fail", "deviation", "n/a", "inconclusive", "error")
DESCRIPTION = (
    "Run the ctxprop conformance suite and print the verdict matrix. "
    "In a project's own test run use pytest -p ctxprop --ctxprop-runtime=SPEC instead."
)


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
    run: ChildRun | None = None
    started = time.perf_counter()
    try:
        with signals_stop():
            report_path = output or Path(tmp, "report.json")
            run = ChildRun(child_command(tmp, report_path, specs, args.timeout), tmp, specs, bounds)
            hung = run.wait()
            if hung is not None:
                stop_child(run.proc)
                err("\n".join(list(run.tail)[-20:]))
                err(f"ctxprop matrix: the suite hung and was stopped: {hung}")
                return EXIT_HUNG
            report = read_report(report_path)
            if run.proc.returncode not in (0, 1) or not report or not report["complete"]:
                err("\n".join(run.tail))
                err(f"ctxprop matrix: the suite did not run (pytest exit {run.proc.returncode})")
                return run.proc.returncode or EXIT_HUNG
    except Stopped as stop:
        err(f"ctxprop matrix: stopped by {stop}")
        return 128 + stop.signum
    finally:
        if run is not None:
            stop_child(run.proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return _finish(args, report, time.perf_counter() - started)


def _run_sessions(args: argparse.Namespace, specs: list[str]) -> int:
    """``--all`` / ``--jobs``: several bounded child sessions (pytest_ctxprop._matrix_all)."""
    from pytest_ctxprop._matrix_all import Sessions, default_jobs, merge

    jobs = args.jobs or default_jobs()
    bounds, start_up = Bounds.for_run(1, args.timeout), Bounds.for_run(0, args.timeout).total
    err(
        f"ctxprop matrix: {len(specs)} runtime spec(s) in up to {jobs} parallel sessions, each "
        f"check bounded by {args.timeout:g}s; a check is taken as hung after {bounds.stall:g}s, "
        f"a session after {start_up:g}s plus {bounds.total - start_up:g}s a row"
    )
    started = time.perf_counter()
    sessions = Sessions(specs, jobs=jobs, timeout=args.timeout)
    try:
        with signals_stop():
            reports, synthetic = sessions.run()
    except Stopped as stop:
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
        return EXIT_HUNG
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
