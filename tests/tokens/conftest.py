"""Local stand-in for the plugin's selection: the good implementations.

The plugin parametrizes ``ctxprop_contextvars`` with what ``--ctxprop-contextvars``
selects; here the same fixture holds the stdlib and the reference, in the same
shape (``pytest_ctxprop._selection.ContextvarsImpl``).
"""

from __future__ import annotations

import contextvars

import pytest

import ctxprop_reference.vars
from pytest_ctxprop._selection import ContextvarsImpl

GOOD_IMPLEMENTATIONS = (
    ContextvarsImpl("contextvars", contextvars),
    ContextvarsImpl("ctxprop_reference.vars", ctxprop_reference.vars),
)


@pytest.fixture(params=GOOD_IMPLEMENTATIONS, ids=lambda impl: impl.name)
def ctxprop_contextvars(request: pytest.FixtureRequest) -> ContextvarsImpl:
    return request.param
