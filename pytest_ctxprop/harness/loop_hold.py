"""Keep the test's event loop alive until the leak guard has looked at it.

pytest-asyncio and anyio cancel every task left on a test's loop when they
close it, so a guard that checks afterwards sees a clean loop and misses the
leak.  The guard therefore takes hold of the loop first: it requests
pytest-asyncio's runner fixture (so the runner is torn down after the guard),
or takes a lease on anyio's test runner (so anyio closes it only once the
guard lets go).  Neither plugin is imported unless the test uses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pytest

__all__ = ["hold_test_loop"]

_PYTEST_ASYNCIO_RUNNER = re.compile(r"_(function|class|module|package|session)_scoped_runner")


def _never(task: Any) -> bool:
    return False


def hold_test_loop(request: pytest.FixtureRequest, stack: ExitStack) -> Callable[[Any], bool]:
    """Hold the test's loop open on ``stack``; return a predicate for tasks the runner owns."""
    for name in request.fixturenames:
        if _PYTEST_ASYNCIO_RUNNER.fullmatch(name):
            request.getfixturevalue(name)
            return _never
    if "event_loop" in request.fixturenames:  # pytest-asyncio before 1.0: a loop fixture
        request.getfixturevalue("event_loop")
        return _never
    if "anyio_backend" in request.fixturenames:
        from anyio.pytest_plugin import extract_backend_and_options, get_runner

        backend, options = extract_backend_and_options(request.getfixturevalue("anyio_backend"))
        if backend != "asyncio":
            return _never  # no asyncio tasks to lose
        runner = stack.enter_context(get_runner(backend, options))
        runner.get_loop()  # its loop (and self-pipe) exist before the guard's snapshot
        # anyio runs tests and fixtures from one long-lived task of its own
        return lambda task: task is getattr(runner, "_runner_task", None)
    return _never
