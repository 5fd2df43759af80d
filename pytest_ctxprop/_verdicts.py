"""Verdicts: how one (subject, property) check ends, and how checks signal it.

A check raises :class:`PropertyViolation` when the subject breaks the property,
calls :func:`not_applicable` when a trait makes the property meaningless, and
:func:`inconclusive` when the harness could not decide.  Anything else that
escapes a check is an ``error``: the suite or the adapter broke.
"""

from __future__ import annotations

import enum
from typing import NoReturn

import pytest


class Verdict(str, enum.Enum):
    """The six verdicts of SPEC "Verdicts"."""

    PASS = "pass"
    FAIL = "fail"
    DEVIATION = "deviation"
    NA = "n/a"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"

    @property
    def fails_session(self) -> bool:
        return self in (Verdict.FAIL, Verdict.ERROR)


class PropertyViolation(AssertionError):
    """The subject under test broke the property (verdict ``fail``)."""


class HarnessError(Exception):
    """The harness or an adapter broke or timed out (verdict ``error``)."""


class AdapterError(HarnessError):
    """An adapter method broke the contract: raised, hung, or returned what it may not.

    ``method`` names it (``start``, ``submit``, ``result``, ``call``, ``cancel``,
    ``stop``, ``register``, ...), so the report says which call to look at.
    """

    def __init__(self, method: str, message: str) -> None:
        super().__init__(message)
        self.method = method


class NotApplicable(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A trait makes the property meaningless (verdict ``n/a``)."""


class Inconclusive(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """The property could not be decided (verdict ``inconclusive``)."""


def not_applicable(reason: str) -> NoReturn:
    """End the current check with verdict ``n/a``."""
    raise NotApplicable(f"n/a: {reason}", allow_module_level=False)


def inconclusive(reason: str) -> NoReturn:
    """End the current check with verdict ``inconclusive``; never a pass."""
    raise Inconclusive(f"inconclusive: {reason}", allow_module_level=False)
