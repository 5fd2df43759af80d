"""docs/ci.md: its tox part is a working tox configuration, and the workflow uses it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "ci.md"
TOX = Path(sys.executable).with_name("tox")


def _block(language: str) -> str:
    (block,) = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return block


def _tox_config(tmp_path: Path, env: str, key: str) -> str:
    proc = subprocess.run(
        [str(TOX), "config", "-c", str(tmp_path / "tox.ini"), "-e", env, "-k", key],
        capture_output=True, text=True, check=False, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.skipif(not TOX.exists(), reason="tox is a test dependency")
def test_the_tox_snippet_defines_the_gate_env(tmp_path: Path) -> None:
    (tmp_path / "tox.ini").write_text(_block("ini"), encoding="utf-8")
    commands = _tox_config(tmp_path, "ctxprop", "commands")
    assert "pytest -p ctxprop --ctxprop-runtime=myproject.adapters:MyPoolAdapter" in commands
    assert "--ctxprop-report=ctxprop.json" in commands
    assert "pytest-ctxprop" in _tox_config(tmp_path, "ctxprop", "deps")
    assert "CI=1" in _tox_config(tmp_path, "ctxprop", "set_env").replace(" ", "")
    assert "pytest tests" in _tox_config(tmp_path, "py311", "commands")


def test_the_workflow_gates_on_tox_and_keeps_the_report() -> None:
    workflow = _block("yaml")
    tox_ini = _block("ini")
    (env,) = re.findall(r"run: tox -e (\S+)", workflow)
    assert f"[testenv:{env}]" in tox_ini
    report = re.search(r"--ctxprop-report=(\S+)", tox_ini)
    assert report is not None
    upload = workflow.split("actions/upload-artifact", 1)[1]
    assert "if: always()" in upload
    assert f"path: {report.group(1)}" in upload
