"""The probe var of the token-transport properties (T11-T16): a reference ContextVar.

Its tokens travel by the ctxprop wire hook (``Token.__ctxprop_wire__``), so it
is a :class:`ctxprop_reference.vars.ContextVar` with a stable identity; its
``name`` is where it lives, so a runtime registers it like any probe var.
"""

from __future__ import annotations

from typing import Any

from ctxprop_reference.vars import ContextVar

TV: ContextVar[Any] = ContextVar(f"{__name__}:TV", namespace="ctxprop.probes")
