"""dramatiq rows: no ``error``, F1 agrees with a direct measurement, ``+ctxprop`` passes all.

The direct measurement uses dramatiq as its docs say (StubBroker, a Worker,
``actor.send``), without the suite: does the actor see the sender's value?
"""

from __future__ import annotations

import contextvars
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ecosystem_inner_session import run_rows

dramatiq = pytest.importorskip("dramatiq")

MODULE = "ctxprop_conformance.ecosystem.dramatiq_runtimes"
ROWS = {
    "dramatiq.worker": f"{MODULE}:DramatiqWorker",
    "dramatiq.stub": f"{MODULE}:DramatiqStub",
    "dramatiq.worker+ctxprop": f"{MODULE}:DramatiqWorkerCtxprop",
}
DOC = Path(__file__).parents[2] / "docs" / "integrations" / "dramatiq.md"
V: contextvars.ContextVar[str] = contextvars.ContextVar("dramatiq_direct_V")


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    table = run_rows(tmp_path_factory.mktemp("dramatiq"), (f"{n}={s}" for n, s in ROWS.items()))
    return {rt: {p: r["verdict"] for p, r in row.items()} for rt, row in table.items()}


def _direct() -> str:
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.results import Results
    from dramatiq.results.backends import StubBackend

    backend = StubBackend()
    broker = StubBroker()
    broker.add_middleware(Results(backend=backend))
    actor = dramatiq.actor(lambda: V.get("<unset>"), actor_name="direct_read",
                           broker=broker, store_results=True)  # fmt: skip
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=20)
    worker.start()
    try:
        V.set("a")
        return str(actor.send().get_result(backend=backend, block=True, timeout=10_000))
    finally:
        worker.stop()
        broker.close()


def test_no_row_has_an_error(verdicts: dict[str, dict[str, str]]) -> None:
    assert set(verdicts) == set(ROWS)
    errors = {(r, p) for r, row in verdicts.items() for p, v in row.items() if v == "error"}
    assert not errors


@pytest.mark.parametrize("name", ["dramatiq.worker", "dramatiq.stub"])
def test_plain_f1_agrees_with_a_direct_measurement(
    name: str, verdicts: dict[str, dict[str, str]]
) -> None:
    seen = contextvars.Context().run(_direct)
    assert verdicts[name]["F1"] == ("pass" if seen == "a" else "fail"), seen


def test_ctxprop_row_passes_every_applicable_property(
    verdicts: dict[str, dict[str, str]],
) -> None:
    row = verdicts["dramatiq.worker+ctxprop"]
    assert {p: v for p, v in row.items() if v not in ("pass", "n/a")} == {}
    assert row["F1"] == row["F9"] == row["I3"] == "pass"


def test_doc_example_runs(tmp_path: Path) -> None:
    """Every fenced python block of docs/integrations/dramatiq.md, as a program."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    script = tmp_path / "example.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "before: None" in proc.stdout
    assert "after: req-7f3a" in proc.stdout


def test_importing_the_integration_does_not_import_dramatiq() -> None:
    code = ("import sys, ctxprop_reference.integrations.dramatiq as m; "
            "assert 'dramatiq' not in sys.modules, 'imported'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
