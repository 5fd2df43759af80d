"""The errors and the warning of :mod:`ctxprop_reference.snapshot`, one per fault rule.

Every message names the task or the var it is about (by id) and never holds a
var's value: a value may be secret, and a message is the first thing that ends up
in a log.  ``docs/cross-process.md`` lists which SPEC rule (S2-S6) raises which.
"""

from __future__ import annotations

__all__ = [
    "DuplicateVarIdError",
    "SnapshotError",
    "SnapshotRejectedError",
    "SnapshotTooLargeError",
    "SnapshotUnavailableError",
    "SnapshotValueError",
    "SnapshotVersionError",
    "SnapshotWarning",
    "UnknownVarError",
]


class SnapshotError(Exception):
    """Base class of every snapshot error."""


class DuplicateVarIdError(SnapshotError, ValueError):
    """A var id, or a var, is already registered: one id names one var (F9)."""


class SnapshotValueError(SnapshotError, TypeError):
    """S2: a registered var holds a value the codec cannot carry (raised at submit)."""

    def __init__(self, message: str, *, var_id: str) -> None:
        super().__init__(message)
        self.var_id = var_id


class SnapshotTooLargeError(SnapshotError, ValueError):
    """An encoded snapshot is over ``max_bytes`` (raised at submit, and at load)."""


class SnapshotUnavailableError(SnapshotError):
    """S3, fail closed: a snapshot declared required is missing, expired or malformed."""

    def __init__(self, message: str, *, task_id: str) -> None:
        super().__init__(message)
        self.task_id = task_id


class SnapshotRejectedError(SnapshotError):
    """S4: a tampered, unsigned-where-signing-is-on, or foreign payload; nothing in it ran."""

    def __init__(self, message: str, *, task_id: str) -> None:
        super().__init__(message)
        self.task_id = task_id


class SnapshotVersionError(SnapshotError):
    """A snapshot written in a format version newer than this library reads."""

    def __init__(self, message: str, *, task_id: str, version: int) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.version = version


class UnknownVarError(SnapshotError, LookupError):
    """S6: a snapshot carries a var id that this process has not registered."""

    def __init__(self, message: str, *, var_id: str) -> None:
        super().__init__(message)
        self.var_id = var_id


class SnapshotWarning(UserWarning):
    """A documented degradation: S2 and S6 in lenient mode, S3 where not required."""
