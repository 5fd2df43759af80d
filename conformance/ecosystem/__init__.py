"""Adapters for real Python runtimes, measured exactly as their documentation says to use them.

Each adapter adds no context handling of its own (the "honest measurement"
rules of docs/adapters.md): a verdict is what the library does.  A library
that is not installed makes its rows ``n/a`` (RuntimeUnavailable) with the
extra that installs it.  The short names are entry points of the
``ctxprop.runtimes`` group, so ``--ctxprop-runtime=anyio.to_thread`` works.
"""

from __future__ import annotations

import importlib
from typing import Any

from pytest_ctxprop.adapter import RuntimeUnavailable


def require(module: str, extra: str) -> Any:
    """Import ``module`` or make the runtime unavailable, naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeUnavailable(
            f"{module} is not installed (pip install 'pytest-ctxprop[{extra}]')"
        ) from None
