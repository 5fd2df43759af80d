"""Every python example in docs/fixtures.md runs and passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from harness_inner_runs import PLUGIN

DOC = Path(__file__).resolve().parents[2] / "docs" / "fixtures.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_docs_have_examples():
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_example_runs(hpytester, index):
    hpytester.makepyfile(**{f"test_doc_example_{index}": BLOCKS[index]})
    result = hpytester.runpytest_inprocess(
        *PLUGIN, "-p", "no:cacheprovider", "--ctxprop-redis=fake"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
    assert set(outcomes) <= {"passed"}, result.stdout.str()


def test_docs_fakeredis_table_matches_the_probe_on_this_version():
    """The H6 table names versions by what the probe finds: check the row for this one."""
    from importlib.metadata import version

    from pytest_ctxprop.harness.fakeredis_blocking import probe

    major_minor = ".".join(version("fakeredis").split(".")[:2])
    rows = re.findall(r"^\| (\d+\.\d+) \([^)]*\) \| `[^`]+` \| ([^|]+) \|", DOC.read_text(), re.M)
    found = dict(rows)
    if major_minor not in found:
        pytest.skip(f"fakeredis {major_minor} has no row in the docs table")
    report = probe()
    expected = {
        (False, False): "neither defect",
        (True, False): "early replies",
        (True, True): "early replies and polling",
        (False, True): "polling",
    }[(report.returns_early, report.polls)]
    assert found[major_minor].strip().startswith(expected)
    if expected == "early replies":
        assert "polling" not in found[major_minor]
