"""The dask.distributed rows: no ``error``, F1 agrees with a direct measurement, ``+ctxprop`` green.

The direct measurement uses distributed as its documentation says, without the
suite: the client and its workers start first, then the caller sets a var and
submits a module-level function that reads it (``pure=False``).
"""

from __future__ import annotations

import contextvars
import re
from pathlib import Path
from typing import Any

import pytest
from ecosystem_inner_session import run_rows

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
MODULE = "ctxprop_conformance.ecosystem.dask_runtimes"
ROWS = {
    "dask.threads": f"{MODULE}:DaskThreads",
    "dask.processes": f"{MODULE}:DaskProcesses",
    "dask.processes+ctxprop": f"{MODULE}:DaskProcessesCtxprop",
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    return run_rows(tmp_path_factory.mktemp("dask"), (f"{n}={s}" for n, s in ROWS.items()))


def _direct(processes: bool) -> object:
    """V=a set after the cluster is up; what a submitted task reads (probes.current_request)."""
    import distributed

    from ctxprop_conformance import probes

    with distributed.Client(
        processes=processes, n_workers=1, threads_per_worker=1, dashboard_address=":0"
    ) as client:
        client.submit(probes.current_request, pure=False).result(60)  # the worker serves
        probes.V.set("a")
        return client.submit(probes.current_request, pure=False).result(60)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_row_has_no_error(name: str, rows: dict[str, dict[str, dict[str, Any]]]) -> None:
    errors = {p: r["reason"][:300] for p, r in rows[name].items() if r["verdict"] == "error"}
    assert not errors


# distributed's own teardown leaves sockets to the garbage collector
DASK_NOISE = (
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
)


@DASK_NOISE[0]
@DASK_NOISE[1]
@DASK_NOISE[2]
@pytest.mark.parametrize("name", ["dask.threads", "dask.processes"])
def test_f1_agrees_with_a_direct_measurement(
    name: str, rows: dict[str, dict[str, dict[str, Any]]]
) -> None:
    seen = contextvars.Context().run(_direct, name == "dask.processes")
    expected = "pass" if seen == "a" else "fail"
    assert rows[name]["F1"]["verdict"] == expected, f"direct measurement saw V={seen!r}"


def test_with_ctxprop_row_passes_every_applicable_property(
    rows: dict[str, dict[str, dict[str, Any]]],
) -> None:
    verdicts = {p: r["verdict"] for p, r in rows["dask.processes+ctxprop"].items()}
    assert set(verdicts.values()) <= {"pass", "n/a"}, verdicts
    for prop in ("F1", "F2", "F6", "F9", "I3", "S1", "S2"):
        assert verdicts[prop] == "pass", prop


@DASK_NOISE[0]
@DASK_NOISE[1]
@DASK_NOISE[2]
def test_the_docs_example_runs() -> None:
    text = (ROOT / "docs" / "integrations" / "dask.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/integrations/dask.md", "exec"), {"__name__": "docs_dask"})
