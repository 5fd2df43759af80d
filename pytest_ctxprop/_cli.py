"""``ctxprop``: the command line.  ``ctxprop matrix`` runs the suite on the built-in
runtimes (or the ones named) and prints the verdict matrix.

It exits 0 whenever the suite ran, whatever the verdicts: it reports, the pytest
run with selected runtimes is the gate.  The suite runs in a child pytest in an
empty directory, so no project's conftest or ini changes what it measures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_ctxprop._builtin import BUILTIN_RUNTIMES
from pytest_ctxprop._report import render_markdown, render_terminal


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctxprop", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    matrix = commands.add_parser("matrix", help="run the suite and print the verdict matrix")
    fmt = matrix.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the JSON report")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table")
    matrix.add_argument(
        "--runtime",
        action="append",
        metavar="SPEC",
        help="a runtime spec as for --ctxprop-runtime (default: every built-in runtime)",
    )
    matrix.add_argument(
        "--output", metavar="FILE.json", help="also keep the JSON report in this file"
    )
    commands.add_parser("list", help="list the built-in runtime names")
    return parser


def _run_matrix(args: argparse.Namespace) -> int:
    specs = args.runtime or sorted(BUILTIN_RUNTIMES)
    with tempfile.TemporaryDirectory(prefix="ctxprop-matrix-") as tmp:
        ini = Path(tmp, "pytest.ini")
        ini.write_text("[pytest]\n", encoding="utf-8")
        report_path = Path(args.output).resolve() if args.output else Path(tmp, "report.json")
        command = [
            sys.executable, "-m", "pytest", "-p", "ctxprop", "-c", str(ini), "--rootdir", tmp,
            "-p", "no:cacheprovider", "-q", "--no-header", "--tb=no",
            f"--ctxprop-report={report_path}",
            *(f"--ctxprop-runtime={spec}" for spec in specs),
        ]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=tmp, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode not in (0, 1) or not report_path.exists():
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            sys.stderr.write(
                f"ctxprop matrix: the suite did not run (pytest exit {proc.returncode})\n"
            )
            return proc.returncode or 2
        report = json.loads(report_path.read_text(encoding="utf-8"))
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.markdown:
        print(render_markdown(report))
    else:
        print(render_terminal(report))
    print(f"\nctxprop matrix: {len(report['results'])} verdicts on {len(report['runtimes'])} "
          f"runtimes in {elapsed:.1f}s (Python {report['python']})", file=sys.stderr)  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        print("\n".join(sorted(BUILTIN_RUNTIMES)))
        return 0
    return _run_matrix(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
