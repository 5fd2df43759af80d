"""One inner ctxprop session over some rows, as the ecosystem row tests all run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Table = dict[str, dict[str, dict[str, Any]]]


def run_rows(
    workdir: Path, specs: Iterable[str], *, timeout: float = 300, extra: Iterable[str] = ()
) -> Table:
    """Run the suite on ``specs`` (``--ctxprop-runtime`` values) in ``workdir``.

    Autoloading is off and only ctxprop is loaded, as a user's CI would; the
    report comes back as runtime -> property -> result row.
    """
    report = workdir / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "ctxprop", "-p", "no:cacheprovider", "-q",
         *extra, *(f"--ctxprop-runtime={spec}" for spec in specs), f"--ctxprop-report={report}"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    output = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode in (0, 1), output
    assert report.is_file(), output
    table: Table = {}
    for row in json.loads(report.read_text(encoding="utf-8"))["results"]:
        table.setdefault(row["runtime"], {})[row["property"]] = row
    return table
