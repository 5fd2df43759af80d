"""One task's values: captured from the submitter's Context, restored into a new one.

Capture reads only registered vars, and only those that have a value in the
Context (a var never set, or only at its default, is not captured: S5; a var
reset to unset is not either: F3).  Restore always builds a new, empty
Context and sets exactly the captured vars in it: never the worker's own
Context, never one a previous task ran in (I3).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, Final, TypeVar

from ctxprop_reference.snapshot_registry import VarRegistry

__all__ = ["Snapshot"]

_T = TypeVar("_T")
_ABSENT: Final[Any] = object()


def _capture(registry: VarRegistry, context: contextvars.Context) -> dict[str, Any]:
    """The registered vars that have a value in ``context`` (unset and default-only do not)."""
    get = context.get
    return {
        var_id: value
        for var_id, var in registry._pairs
        if (value := get(var, _ABSENT)) is not _ABSENT
    }


def _set_all(values: dict[str, Any], stdlib_vars: dict[str, contextvars.ContextVar[Any]]) -> None:
    """Set each var in the current (new) Context."""
    for var_id, value in values.items():
        stdlib_vars[var_id].set(value)


class Snapshot:
    """The registered vars' values for one task.  Made by :meth:`SnapshotSerializer.loads`.

    The repr lists var ids only, never values.  Values are shared, not copied,
    between Contexts restored from the same Snapshot (as with ``copy_context``).
    """

    __slots__ = ("_registry", "_stdlib_vars", "_values")

    def __init__(self, registry: VarRegistry, values: dict[str, Any]) -> None:
        """Internal: ``values`` maps ids registered in ``registry`` to decoded values."""
        self._registry = registry
        self._stdlib_vars = registry._stdlib_by_id  # replaced, never mutated, on register
        self._values = values

    @property
    def var_ids(self) -> tuple[str, ...]:
        """The ids of the vars this snapshot sets, in the submitter's registration order."""
        return tuple(self._values)

    def restore(self) -> contextvars.Context:
        """A new Context holding exactly these vars: never the worker's own, never reused."""
        context = contextvars.Context()
        if self._values:
            context.run(_set_all, self._values, self._stdlib_vars)
        return context

    def run(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """``fn(*args, **kwargs)`` in a new Context from :meth:`restore`."""
        return self.restore().run(fn, *args, **kwargs)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        secret = self._registry.is_secret
        ids = ", ".join(var_id + (" (secret)" if secret(var_id) else "") for var_id in self._values)
        return f"<Snapshot [{ids}]>"

    def __reduce__(self) -> Any:
        raise TypeError("a Snapshot does not pickle: send SnapshotSerializer.dumps() bytes")
