"""Make the harness fixtures available whether or not the plugin module is loaded.

Only fixtures are imported (hooks would clash when ``-p pytest_ctxprop.harness.plugin``
is also given); the hooks are exercised through pytester runs.
"""

import sys

import pytest

from pytest_ctxprop.harness.plugin import (
    ctxprop_leak_guard,
    ctxprop_server,
    fake_redis,
    fake_redis_server,
    fakeredis_blocking,
)

__all__ = [
    "ctxprop_leak_guard",
    "ctxprop_server",
    "fake_redis",
    "fake_redis_server",
    "fakeredis_blocking",
]


# the plugin under test, minus plugins that only get in the way of inner runs (hypothesis's
# terminal summary re-imports hypothesis on every in-process run: ~2 s; pytest-benchmark
# warns, hence errors, whenever it runs inside an xdist worker)
PLUGIN = ("-p", "pytest_ctxprop.harness.plugin", "-p", "no:hypothesispytest", "-p", "no:benchmark")


def inner_ini(*extra: str, asyncio: bool = True) -> str:
    """A strict ini for inner pytester runs: warnings are errors, as in the outer suite."""
    lines = [
        "[pytest]",
        *(["asyncio_default_fixture_loop_scope = function"] if asyncio else []),
        "filterwarnings =",
        "    error",
        *extra,
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def _restore_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs may simulate Windows through ``sys.platform``: always put it back."""
    monkeypatch.setattr(sys, "platform", sys.platform)


@pytest.fixture
def hpytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with the strict inner ini written."""
    pytester.makeini(inner_ini())
    return pytester
