"""Run every benchmark: ``python bench/run.py``.

Each ``bench_*.py`` prints its own ratios, measured side by side in one run;
goals are printed next to them, never asserted in tests.  Then the wall time of
``ctxprop matrix --all`` (every built-in and installed ecosystem row, in
parallel sessions) is printed; ``--no-matrix-all`` leaves it out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def bench_matrix_all() -> int:
    """Wall time of ``ctxprop matrix --all --json``, run in an empty folder; printed only."""
    print("== matrix_all", flush=True)
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    with tempfile.TemporaryDirectory(prefix="ctxprop-bench-") as folder:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest_ctxprop._cli", "matrix", "--all", "--json"],
            cwd=folder, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
    last = [line for line in proc.stderr.splitlines() if "verdicts on" in line]
    print(f"ctxprop matrix --all: {wall:.1f}s wall, exit {proc.returncode}"
          + (f" ({last[-1].strip()})" if last else ""))  # fmt: skip
    if proc.returncode not in (0, 2):  # 2: some row hung or could not run, reported as such
        print(proc.stderr[-2000:])
        return 1
    return 0


def main() -> int:
    status = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.stem}", flush=True)
        status |= subprocess.run([sys.executable, str(script)], check=False).returncode
    if "--no-matrix-all" not in sys.argv[1:]:
        status |= bench_matrix_all()
    return status


if __name__ == "__main__":
    sys.exit(main())
