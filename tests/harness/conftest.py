"""Fixtures shared by the harness tests (the harness fixtures come from the plugin)."""

import sys

import pytest
from harness_inner_runs import inner_ini


@pytest.fixture(autouse=True)
def _restore_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs may simulate Windows through ``sys.platform``: always put it back."""
    monkeypatch.setattr(sys, "platform", sys.platform)


@pytest.fixture
def hpytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with the strict inner ini written."""
    pytester.makeini(inner_ini())
    return pytester
