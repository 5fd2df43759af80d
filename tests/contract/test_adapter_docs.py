"""The call-style examples of docs/adapters.md run as written and get honest verdicts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "adapters.md"


def _example(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    (code,) = [b for b in blocks if marker in b]
    return code


def _verdicts(pytester: pytest.Pytester, module: str, code: str, spec: str) -> dict[str, str]:
    pytester.makepyfile(**{module: code})
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "-p", "ctxprop", "-p", "no:cacheprovider", f"--ctxprop-runtime={spec}",
        f"--ctxprop-report={report}",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    rows = json.loads(report.read_text(encoding="utf-8"))["results"]
    return {r["property"]: r["verdict"] for r in rows if r["property"][0] in "FIB"}


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))
    return pytester


def test_blocking_call_example(project: pytest.Pytester) -> None:
    code = _example("class LoopBridgeAdapter")
    seen = _verdicts(project, "loopbridge", code, "loopbridge:LoopBridgeAdapter")
    assert set(seen.values()) == {"pass", "n/a"}
    assert seen["F1"] == seen["I2"] == seen["I4"] == "pass"
    assert seen["F2"] == seen["I5"] == "n/a"  # no separate submit


def test_awaited_call_example(project: pytest.Pytester) -> None:
    code = _example("class InlineRunnerAdapter")
    seen = _verdicts(project, "inlinerunner", code, "inlinerunner:InlineRunnerAdapter")
    assert set(seen.values()) == {"pass", "n/a"}
    assert [seen[p] for p in ("B1", "B2", "B3", "B4", "B5")] == ["pass"] * 5
    assert seen["F6"] == seen["I2"] == "pass"
