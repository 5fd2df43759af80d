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
