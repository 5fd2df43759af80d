"""The conformance suite against the reference Redis queue, on fakeredis and on a real redis-server.

One inner pytest session per backend, read back from its JSON report: every
property of F, I and S passes or does not apply (never a deviation), for the
queue and for its fail-closed variant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ADAPTERS = {
    "queue": "ctxprop_reference.redis_queue_adapter:RedisQueueAdapter",
    "queue_required": "ctxprop_reference.redis_queue_adapter:RequiredSnapshotQueueAdapter",
}
#: n/a by design: no async offload API (F8), the copy model (B)
EXPECTED_NA = {"F8", "B1", "B2", "B3", "B4", "B5"}


def _run_suite(workdir: Path, redis_url: str | None) -> dict[str, dict[str, str]]:
    report = workdir / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CTXPROP_"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if redis_url is not None:
        env["CTXPROP_REDIS_URL"] = redis_url
    command = [
        sys.executable, "-m", "pytest", "-p", "ctxprop", "-p", "no:cacheprovider", "-W", "error",
        "-q", *(f"--ctxprop-runtime={name}={spec}" for name, spec in ADAPTERS.items()),
        f"--ctxprop-report={report}",
    ]  # fmt: skip
    proc = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    table: dict[str, dict[str, str]] = {}
    for row in json.loads(report.read_text())["results"]:
        table.setdefault(row["runtime"], {})[row["property"]] = row["verdict"]
    return table


@pytest.mark.parametrize("backend", ["fakeredis", "redis-server"])
def test_queue_passes_every_applicable_property(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = None if backend == "fakeredis" else request.getfixturevalue("real_redis_server_url")
    table = _run_suite(tmp_path, url)
    for name in ADAPTERS:
        verdicts = {pid: v for pid, v in table[name].items() if pid[0] in "FIBS"}
        assert {pid for pid, v in verdicts.items() if v == "n/a"} == EXPECTED_NA, verdicts
        assert {pid for pid, v in verdicts.items() if v not in ("pass", "n/a")} == set(), verdicts
