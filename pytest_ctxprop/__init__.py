"""pytest-ctxprop: prove that a runtime carries ``contextvars`` across its boundaries.

The public API is small and documented in ``docs/``.  Names are imported lazily
so that loading the plugin costs (almost) nothing in a project that does not use
them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # adapter contract (docs/adapters.md)
    "Traits": "pytest_ctxprop.adapter",
    "Capabilities": "pytest_ctxprop.adapter",
    "RuntimeAdapter": "pytest_ctxprop.adapter",
    "AsyncRuntimeAdapter": "pytest_ctxprop.adapter",
    "Unsupported": "pytest_ctxprop.adapter",
    "RuntimeUnavailable": "pytest_ctxprop.adapter",
    # verdicts
    "Verdict": "pytest_ctxprop._verdicts",
    "not_applicable": "pytest_ctxprop._verdicts",
    "inconclusive": "pytest_ctxprop._verdicts",
    # harness fixtures (docs/fixtures.md)
    "run_server_async": "pytest_ctxprop.harness.server",
    "run_server": "pytest_ctxprop.harness.server_thread",
    "ReadyHandle": "pytest_ctxprop.harness.server",
    "ServerAddress": "pytest_ctxprop.harness.server",
    "ServerStartError": "pytest_ctxprop.harness.server",
    "ServerStartTimeout": "pytest_ctxprop.harness.server",
    "ServerStopTimeout": "pytest_ctxprop.harness.server",
    "wait_for_port": "pytest_ctxprop.harness.ports",
    "wait_for_port_sync": "pytest_ctxprop.harness.ports",
    "PortTimeoutError": "pytest_ctxprop.harness.ports",
    "LeakGuard": "pytest_ctxprop.harness.leaks",
    "LeakError": "pytest_ctxprop.harness.leaks",
    "blocking_patch": "pytest_ctxprop.harness.fakeredis_blocking",
    "selector_loop_factory": "pytest_ctxprop.harness.event_loop",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pytest_ctxprop' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
