"""The worked example in docs/adapters.md runs, and does what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "adapters.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    (code,) = [b for b in blocks if "class JobQueueAdapter" in b]
    return code


def test_the_worked_example_passes_every_applicable_property(
    pytester: pytest.Pytester, run_suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(jobqueue=_example())
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    run = run_suite("-p", "ctxprop", "--ctxprop-runtime=jobqueue:JobQueueAdapter")
    assert run.ret == pytest.ExitCode.OK
    seen = run.verdicts("jobqueue:JobQueueAdapter")
    assert set(seen.values()) == {"pass", "n/a"}
    assert seen["I6"] == "pass"  # worker_init is honoured


def test_without_the_fix_the_failures_are_the_ones_the_page_lists(
    pytester: pytest.Pytester, run_suite
) -> None:
    code = _example()
    fixed = "future.set_result(context.run(fn, *args))"
    assert fixed in code
    pytester.makepyfile(jobqueue=code.replace(fixed, "future.set_result(fn(*args))"))
    run = run_suite("--ctxprop-runtime=jobqueue:JobQueueAdapter")
    failed = {p for p, v in run.verdicts("jobqueue:JobQueueAdapter").items() if v == "fail"}
    assert failed == {"F1", "F2", "F4", "F5", "F6", "F7", "I2", "I3", "I4", "I6"}
    assert "F1, F2, F4-F7, I2-I4 and I6 fail" in DOC.read_text(encoding="utf-8").replace("\n", " ")
