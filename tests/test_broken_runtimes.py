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


def _registry() -> dict[str, str]:
    """The registry, loaded by path: ``tests`` is not a package and must not become one.

    A ``tests/__init__.py`` would put the repo root on sys.path in every test
    process, where importlib.metadata then also finds the in-tree egg-info and
    pytest warns that ``pytest_ctxprop`` cannot be rewritten (in-process
    pytester runs fail).  The subprocess below imports the runtimes as
    ``tests.broken_runtimes``, ``tests`` being a namespace package there.
    """
    return runpy.run_path(str(REPO / "tests" / "broken_runtimes" / "__init__.py"))["REGISTRY"]


REGISTRY = _registry()
#: the properties a runtime adapter is judged on (the others need no runtime)
JUDGED = [pid for pid, prop in PROPERTIES.items() if prop.section in ("F", "I", "B")]
CLEAN = {"pass", "n/a"}
REFERENCE = sorted(name for name in BUILTIN_RUNTIMES if name.startswith("reference."))

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
        *(f"--ctxprop-runtime={name}" for name in REFERENCE),
        f"--ctxprop-report={report}",
    ]
    proc = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = f"exit {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    # exit 1: tests failed (the broken runtimes), anything else: the run itself broke
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert report.is_file(), output
    table: Verdicts = {}
    for row in json.loads(report.read_text())["results"]:
        table.setdefault(row["runtime"], {})[row["property"]] = row
    return table


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
    others = [p for p in JUDGED if p != pid and rows[p]["verdict"] not in CLEAN]
    assert not others, f"{REGISTRY[pid]} breaks more than {pid}:\n{_show(rows, others)}"


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_runtime_passes(name: str, verdicts: Verdicts) -> None:
    """A reference runtime passes every applicable property (no fail, error, deviation)."""
    rows = verdicts[name]
    missing = [p for p in JUDGED if p not in rows]
    assert not missing, f"{name}: no verdict for {missing}"
    bad = [p for p in JUDGED if rows[p]["verdict"] not in CLEAN]
    assert not bad, f"{name}:\n{_show(rows, bad)}"


def test_every_judged_property_passes_on_some_reference_runtime(verdicts: Verdicts) -> None:
    """No property is n/a everywhere: each is really exercised by a correct runtime."""
    never = [
        pid for pid in JUDGED if not any(verdicts[n][pid]["verdict"] == "pass" for n in REFERENCE)
    ]
    assert not never, f"no reference runtime passes {never}"
