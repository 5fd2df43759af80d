"""Proof that the suite catches bugs (issue 2, item 6).

Every broken runtime of :mod:`tests.broken_runtimes` must fail exactly the
property it breaks, and the reference runtimes must pass every applicable one.
The suite runs once, in one subprocess, for all of them together: one pytest
session with every runtime selected, read back from its JSON report.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ctxprop_conformance.properties import PROPERTIES
from pytest_ctxprop._builtin import BUILTIN_RUNTIMES

REPO = Path(__file__).resolve().parents[1]


def _registry() -> dict[str, Any]:
    """The registry, loaded by path: ``tests`` is not a package and must not become one.

    A ``tests/__init__.py`` would put the repo root on sys.path in every test
    process, where importlib.metadata then also finds the in-tree egg-info and
    pytest warns that ``pytest_ctxprop`` cannot be rewritten (in-process
    pytester runs fail).  The subprocess below imports the runtimes as
    ``tests.broken_runtimes``, ``tests`` being a namespace package there.
    """
    return runpy.run_path(str(REPO / "tests" / "broken_runtimes" / "__init__.py"))


REGISTRY: dict[str, str] = _registry()["REGISTRY"]
CONTRACT_CASES: dict[str, tuple[str, dict[str, str]]] = _registry()["CONTRACT_CASES"]
#: a bound no check may come near: an n/a or a pass that waited out a timeout shows here
INNER_TIMEOUT = 60.0
#: what a leaked Future, task or unraisable exception prints when it is collected
LEAK_MARKERS = ("never retrieved", "Task was destroyed", "Exception ignored", "INTERNALERROR")
#: the properties a runtime adapter is judged on (the others need no runtime)
JUDGED = [
    pid
    for pid, prop in PROPERTIES.items()
    if prop.section in ("F", "I", "B", "S") or pid in {f"T{n}" for n in range(11, 17)}
]
CLEAN = {"pass", "n/a"}
#: what the awaited-call reference (and the broken runtimes built on it) declares on
#: Python 3.10, where a task's Context cannot be given to asyncio (docs/reference.md)
DECLARED_HERE = {"T11", "T16"} if sys.version_info < (3, 11) else set()


def _clean(rows: dict[str, Any], pid: str) -> bool:
    verdict = rows[pid]["verdict"]
    return verdict in CLEAN or (verdict == "deviation" and pid in DECLARED_HERE)


REFERENCE = sorted(name for name in BUILTIN_RUNTIMES if name.startswith("reference."))
#: judged only on time here: their verdicts are whatever the interpreter does
STDLIB = sorted(name for name in BUILTIN_RUNTIMES if name.startswith("stdlib."))

Verdicts = dict[str, dict[str, dict[str, Any]]]


def _broken(pid: str) -> str:
    return f"broken.{pid}"


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> Verdicts:
    """runtime -> property -> report row, from one suite run over every runtime.

    Runs outside this repo (no pyproject options leak in), with plugin autoload
    off; ``PYTHONPATH`` holds the repo root so ``tests.broken_runtimes`` imports.
    """
    workdir = tmp_path_factory.mktemp("broken_runtimes")
    report = workdir / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "ctxprop",
        "-p",
        "no:cacheprovider",
        "-W",
        "error",
        "-q",
        *(f"--ctxprop-runtime={_broken(pid)}={spec}" for pid, spec in REGISTRY.items()),
        *(f"--ctxprop-runtime={name}" for name in REFERENCE + STDLIB),
        *(f"--ctxprop-runtime=contract.{n}={spec}" for n, (spec, _) in CONTRACT_CASES.items()),
        f"--ctxprop-timeout={INNER_TIMEOUT:g}",
        f"--ctxprop-report={report}",
        f"--junitxml={workdir / 'junit.xml'}",
    ]
    proc = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = f"exit {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    # exit 1: tests failed (the broken runtimes), anything else: the run itself broke
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert report.is_file(), output
    leaks = [m for m in LEAK_MARKERS if m in proc.stdout or m in proc.stderr]
    assert not leaks, f"the suite left something behind ({leaks}):\n{output}"
    durations = _durations(workdir / "junit.xml")
    table: Verdicts = {}
    for row in json.loads(report.read_text())["results"]:
        row["duration"] = durations.get(row["nodeid"], 0.0)
        table.setdefault(row["runtime"], {})[row["property"]] = row
    return table


def _durations(junit: Path) -> dict[str, float]:
    """nodeid -> seconds, from the inner run's JUnit XML."""
    import xml.etree.ElementTree as ET

    out: dict[str, float] = {}
    for case in ET.parse(junit).iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        out[f"{module}.py::{case.get('name')}"] = float(case.get("time", 0))
    return out


def _show(rows: dict[str, dict[str, Any]], pids: list[str]) -> str:
    return "\n".join(
        f"  {pid}: {rows[pid]['verdict']}  {rows[pid]['reason'][:300]}" for pid in pids
    )


def test_every_judged_property_has_a_broken_runtime() -> None:
    """A new F/I/B property without a broken runtime fails here."""
    assert set(REGISTRY) == set(JUDGED)


@pytest.mark.parametrize("pid", list(REGISTRY))
def test_broken_runtime_fails_exactly(pid: str, verdicts: Verdicts) -> None:
    """Its own property fails; every other property passes or does not apply."""
    rows = verdicts[_broken(pid)]
    missing = [p for p in JUDGED if p not in rows]
    assert not missing, f"{REGISTRY[pid]}: no verdict for {missing}"
    assert rows[pid]["verdict"] == "fail", (
        f"{REGISTRY[pid]} should fail {pid}:\n{_show(rows, [pid])}"
    )
    others = [p for p in JUDGED if p != pid and not _clean(rows, p)]
    assert not others, f"{REGISTRY[pid]} breaks more than {pid}:\n{_show(rows, others)}"


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_runtime_passes(name: str, verdicts: Verdicts) -> None:
    """A reference runtime passes every applicable property (no fail, error, deviation)."""
    rows = verdicts[name]
    missing = [p for p in JUDGED if p not in rows]
    assert not missing, f"{name}: no verdict for {missing}"
    bad = [p for p in JUDGED if not _clean(rows, p)]
    assert not bad, f"{name}:\n{_show(rows, bad)}"


def test_every_judged_property_passes_on_some_reference_runtime(verdicts: Verdicts) -> None:
    """No property is n/a everywhere: each is really exercised by a correct runtime."""
    never = [
        pid for pid in JUDGED if not any(verdicts[n][pid]["verdict"] == "pass" for n in REFERENCE)
    ]
    assert not never, f"no reference runtime passes {never}"


@pytest.mark.parametrize("name", list(CONTRACT_CASES))
def test_contract_case_verdicts(name: str, verdicts: Verdicts) -> None:
    """Each shape of runtime gets exactly its expected verdicts; every other one is clean."""
    spec, expected = CONTRACT_CASES[name]
    rows = verdicts[f"contract.{name}"]
    wrong = [
        p
        for p in JUDGED
        if (rows[p]["verdict"] != expected[p] if p in expected else rows[p]["verdict"] not in CLEAN)
    ]
    assert not wrong, f"{spec}:\n{_show(rows, wrong)}"


def test_no_check_waits_out_its_bound(verdicts: Verdicts) -> None:
    """An n/a is decided before any waiting, and no check comes near the inner bound.

    The bound is 60 s and every check here takes well under a second, so the
    margin is far beyond what load can explain: a check near the bound waited
    for something that never came.
    """
    timed = [row for rows in verdicts.values() for row in rows.values() if row["duration"] > 0]
    assert len(timed) > len(verdicts), "the JUnit durations did not match the report's nodeids"
    slow = [
        f"{rt} {pid}: {row['verdict']} after {row['duration']:.1f}s"
        for rt, rows in verdicts.items()
        for pid, row in rows.items()
        if row["duration"] > INNER_TIMEOUT / 4
    ]
    assert not slow, "\n".join(slow)
