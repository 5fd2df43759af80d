"""Every python example in docs/cross-process.md runs, as a program of its own, and passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "cross-process.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_docs_have_examples():
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_example_runs(tmp_path, index):
    script = tmp_path / f"example_{index}.py"
    script.write_text(BLOCKS[index], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, BLOCKS[index] + "\n" + result.stderr


def test_the_public_names_table_lists_every_public_name():
    from ctxprop_reference import snapshot

    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in snapshot.__all__ if f"`{name}" not in text]
    assert missing == []
