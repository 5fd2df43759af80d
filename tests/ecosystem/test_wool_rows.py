"""The wool rows: no ``error``, F1 agrees with a direct measurement, the n/a row says why.

The direct measurement uses wool as its README says, without the suite: a
``WorkerPool(spawn=1)`` of wool's own spawned workers (not the row's fork
server), serving one routine before the caller sets anything; then the caller
sets a stdlib ``ContextVar`` and a ``wool.ContextVar`` and awaits a routine
that reads both and sets the wool one.  It runs in a child interpreter: the
routine's module must be importable by the spawned worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ecosystem_inner_session import run_rows

pytest.importorskip("wool")

MODULE = "ctxprop_conformance.ecosystem.wool_runtimes"
ROWS = {"wool.routine": f"{MODULE}:WoolRoutine", "wool.contextvar": f"{MODULE}:WoolContextVar"}
Table = dict[str, dict[str, dict[str, Any]]]

#: the direct measurement's module, imported by name in the caller and in the worker
DIRECT = """
import contextvars, json
import wool

V = contextvars.ContextVar("wool_direct_V")
W = wool.ContextVar("W", namespace="wool_direct", default="<unset>")


@wool.routine
async def read_then_set() -> list:
    seen = [V.get("<unset>"), W.get()]
    W.set("set by the worker")
    return seen


async def measure() -> str:
    async with wool.WorkerPool(spawn=1):
        await read_then_set()  # the worker serves
        V.set("a")
        W.set("a")
        stdlib_seen, wool_seen = await read_then_set()
        return json.dumps({"V": stdlib_seen, "W": wool_seen, "W after": W.get()})
"""


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Table:
    return run_rows(tmp_path_factory.mktemp("wool"), (f"{n}={s}" for n, s in ROWS.items()))


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What a routine on a spawned wool worker saw, and what flowed back."""
    folder = tmp_path_factory.mktemp("wool_direct")
    (folder / "wool_direct.py").write_text(DIRECT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c",
         "import asyncio, wool_direct; print(asyncio.run(wool_direct.measure()))"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("name", sorted(ROWS))
def test_row_has_no_error(name: str, rows: Table) -> None:
    errors = {p: r["reason"][:300] for p, r in rows[name].items() if r["verdict"] == "error"}
    assert not errors


def test_f1_agrees_with_a_direct_measurement(rows: Table, direct: dict[str, str]) -> None:
    """The stdlib var does not reach a spawned worker; the row declares that, so F1 is D."""
    arrived = direct["V"] == "a"
    assert rows["wool.routine"]["F1"]["verdict"] == ("pass" if arrived else "deviation"), direct


def test_routine_row_measures_what_wool_documents(rows: Table) -> None:
    """Nothing of a stdlib var travels (D), and the worker keeps tasks apart (I1, I3-I5 pass)."""
    verdicts = {p: r["verdict"] for p, r in rows["wool.routine"].items()}
    assert set(verdicts.values()) <= {"pass", "deviation", "n/a"}, verdicts
    for prop in ("F1", "F2", "F4", "F5", "F6", "F7", "I2", "S1", "S2", "S6"):
        assert verdicts[prop] == "deviation", prop
    for prop in ("F3", "I1", "I3", "I4", "I5", "S5"):
        assert verdicts[prop] == "pass", prop


def test_contextvar_row_is_na_with_its_reason(rows: Table, direct: dict[str, str]) -> None:
    """wool.ContextVar does travel (and flows back), so the row is n/a for the contract's sake."""
    assert direct["W"] == "a", direct
    assert direct["W after"] == "set by the worker", direct
    reasons = {r["reason"] for r in rows["wool.contextvar"].values()}
    assert {r["verdict"] for r in rows["wool.contextvar"].values()} == {"n/a"}
    assert len(reasons) == 1
    reason = reasons.pop()
    assert "not measurable through contract v2" in reason
    assert "probe-var factory" in reason


def test_rows_are_documented() -> None:
    text = (Path(__file__).parents[2] / "docs" / "ecosystem.md").read_text(encoding="utf-8")
    for name in ROWS:
        assert f"`{name}`" in text, name
    assert "Not measured here" not in text
