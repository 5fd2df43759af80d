"""How the harness tests start inner pytest runs (imported by the test modules)."""

from __future__ import annotations

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
