"""Hooks a downstream project implements (in a conftest.py or a plugin)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest


@pytest.hookspec
def pytest_ctxprop_runtimes(config: pytest.Config) -> Mapping[str, Callable[[], Any]] | None:
    """Return ``{name: factory}`` of runtimes to run the conformance suite against.

    Every implementation's runtimes are selected, like the CLI's
    ``--ctxprop-runtime``; a factory returns a fresh adapter each call.
    """
