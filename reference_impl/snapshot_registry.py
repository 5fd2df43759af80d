"""Which vars travel: a registry of context vars under stable ids (F9, S5, S6).

A snapshot carries only registered vars.  Each is registered under an id of the
form ``namespace:name`` that names the same variable in every process:

* a reference :class:`ctxprop_reference.vars.ContextVar` declared with
  ``namespace=`` has one already (``namespace:name``);
* a stdlib :class:`contextvars.ContextVar` gets one explicitly, usually its import
  path ``module:attribute``; :meth:`VarRegistry.register_importable` imports the
  module and checks the attribute, so a worker can register the same var by the
  same string.

Nothing here imports a module because a snapshot named it: ids coming off the wire
are only ever looked up (wire data must not choose which code runs).
"""

from __future__ import annotations

import contextvars
import importlib
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from ctxprop_reference import vars as _reference_vars
from ctxprop_reference.snapshot_errors import DuplicateVarIdError, UnknownVarError

__all__ = ["VarRegistry", "VarSpec"]

_VAR_ID: Final = re.compile(r"[^\s:][^\s]*:[^\s]+")
_PATH: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_AnyVar = contextvars.ContextVar[Any] | _reference_vars.ContextVar[Any]


@dataclass(frozen=True)
class VarSpec:
    """How to register one var again in another process (see :meth:`VarRegistry.specs`).

    ``path`` is the ``module:attribute`` the var was imported from, or None for a
    var registered as an object (another process must register it itself).
    """

    var_id: str
    path: str | None
    secret: bool


@dataclass(frozen=True, eq=False)
class _Entry:
    """One registered var: the id, the var as given, the stdlib var holding its value."""

    var_id: str
    var: _AnyVar
    stdlib_var: contextvars.ContextVar[Any]
    secret: bool
    path: str | None


def _stdlib_var_of(var: object) -> contextvars.ContextVar[Any]:
    if isinstance(var, contextvars.ContextVar):
        return var
    if isinstance(var, _reference_vars.ContextVar):
        # same package: the reference var keeps its value in this stdlib var
        return var._stdlib_var
    raise TypeError(
        f"expected a contextvars.ContextVar or a ctxprop_reference.vars.ContextVar, "
        f"got {type(var).__name__}"
    )


def _checked_id(var_id: object) -> str:
    if not isinstance(var_id, str) or not _VAR_ID.fullmatch(var_id):
        raise ValueError(
            f"a var id is 'namespace:name' (two non-empty parts, no whitespace), got {var_id!r}"
        )
    return var_id


class VarRegistry:
    """The vars that travel, each under one stable id; everything else stays home (F9).

    Registration is meant for import time (module level or a worker initializer);
    it is thread-safe, and capture never takes a lock.
    """

    def __init__(self) -> None:
        self._entries: tuple[_Entry, ...] = ()
        self._by_id: dict[str, _Entry] = {}
        #: what capture reads: (var id, stdlib var), in registration order
        self._pairs: tuple[tuple[str, contextvars.ContextVar[Any]], ...] = ()
        #: what restore writes: var id -> stdlib var
        self._stdlib_by_id: dict[str, contextvars.ContextVar[Any]] = {}
        self._lock = threading.Lock()

    def register(self, var: _AnyVar, var_id: str | None = None, *, secret: bool = False) -> str:
        """Register ``var`` under ``var_id`` and return the id.

        ``var_id`` defaults to ``namespace:name`` for a reference var declared with
        ``namespace=``; a stdlib var needs it given.  ``secret=True`` keeps the
        var's value out of every repr, warning, error and log line.  An id that is
        taken, or a var that is already registered, raises DuplicateVarIdError.
        """
        return self._add(var, var_id, secret=secret, path=None)

    def register_importable(
        self, path: str, var_id: str | None = None, *, secret: bool = False
    ) -> str:
        """Import ``module:attribute`` and register the var found there; return its id.

        The id defaults to ``path`` (or to ``namespace:name`` for a reference var).
        A worker process calls this with the same string to register the same var,
        which is what makes the var resolvable there (S6).  ``__main__`` is refused:
        a spawned worker imports the main script under another name.
        """
        if not isinstance(path, str) or not _PATH.fullmatch(path):
            raise ValueError(f"an importable var path is 'package.module:attribute', got {path!r}")
        module_name, attribute = path.split(":")
        if module_name in {"__main__", "__mp_main__"}:
            raise ValueError(
                f"cannot register {path!r}: another process imports the main script under "
                "another name, so the var would not resolve there (S6); declare it in a module"
            )
        module = importlib.import_module(module_name)
        try:
            var = getattr(module, attribute)
        except AttributeError:
            raise LookupError(f"module {module_name!r} has no attribute {attribute!r}") from None
        if var_id is None and not getattr(var, "namespace", None):
            var_id = path
        return self._add(var, var_id, secret=secret, path=path)

    def _add(self, var: _AnyVar, var_id: str | None, *, secret: bool, path: str | None) -> str:
        stdlib_var = _stdlib_var_of(var)
        if var_id is None:
            namespace = getattr(var, "namespace", None)
            if namespace is None:
                raise TypeError(
                    f"{var!r} has no stable identity: pass var_id='namespace:name' (for a "
                    "module-level var, its import path 'module:attribute')"
                )
            var_id = f"{namespace}:{var.name}"
        entry = _Entry(_checked_id(var_id), var, stdlib_var, bool(secret), path)
        with self._lock:
            taken = self._by_id.get(entry.var_id)
            if taken is not None:
                raise DuplicateVarIdError(
                    f"var id {entry.var_id!r} is already registered (for {taken.var!r}); "
                    "one id names one var in every process"
                )
            for other in self._entries:
                if other.stdlib_var is stdlib_var:
                    raise DuplicateVarIdError(
                        f"{var!r} is already registered as {other.var_id!r}; a var travels "
                        "under one id"
                    )
            self._set_entries((*self._entries, entry))
        return entry.var_id

    def unregister(self, var_id: str) -> None:
        """Stop carrying the var registered as ``var_id`` (KeyError if none is)."""
        with self._lock:
            if var_id not in self._by_id:
                raise KeyError(var_id)
            self._set_entries(tuple(e for e in self._entries if e.var_id != var_id))

    def _set_entries(self, entries: tuple[_Entry, ...]) -> None:
        """Replace, never mutate: a capture running meanwhile sees the old or the new set."""
        self._by_id = {e.var_id: e for e in entries}
        self._pairs = tuple((e.var_id, e.stdlib_var) for e in entries)
        self._stdlib_by_id = dict(self._pairs)
        self._entries = entries

    def var(self, var_id: str) -> _AnyVar:
        """The var registered as ``var_id``; UnknownVarError naming the id otherwise."""
        return self._entry(var_id).var

    def _entry(self, var_id: str) -> _Entry:
        entry = self._by_id.get(var_id)
        if entry is None:
            raise UnknownVarError(
                f"var {var_id!r} is not registered in this process (S6): register it here "
                "too, e.g. registry.register_importable('module:attribute')",
                var_id=var_id,
            )
        return entry

    def is_secret(self, var_id: str) -> bool:
        """True if ``var_id`` is registered secret; unknown ids count as secret."""
        entry = self._by_id.get(var_id)
        return entry is None or entry.secret

    def specs(self) -> tuple[VarSpec, ...]:
        """What another process needs to register the same vars (see :meth:`from_specs`)."""
        return tuple(VarSpec(e.var_id, e.path, e.secret) for e in self._entries)

    @classmethod
    def from_specs(cls, specs: Iterable[VarSpec]) -> VarRegistry:
        """A registry built from :meth:`specs` of another process (trusted input only).

        Each spec with a ``path`` is imported with :meth:`register_importable`.  A
        spec without one resolves a reference var declared under that id (its
        module must be imported already); anything else raises UnknownVarError.
        """
        registry = cls()
        for spec in specs:
            if spec.path is not None:
                registry.register_importable(spec.path, spec.var_id, secret=spec.secret)
                continue
            namespace, name = spec.var_id.split(":", 1)
            try:
                var = _reference_vars.lookup(namespace, name)
            except LookupError:
                raise UnknownVarError(
                    f"var {spec.var_id!r} has no import path and no reference ContextVar is "
                    "declared under that id here (S6)",
                    var_id=spec.var_id,
                ) from None
            registry.register(var, spec.var_id, secret=spec.secret)
        return registry

    def __contains__(self, var_id: object) -> bool:
        return var_id in self._by_id

    def __iter__(self) -> Iterator[str]:
        return iter([e.var_id for e in self._entries])

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        ids = ", ".join(e.var_id + (" (secret)" if e.secret else "") for e in self._entries)
        return f"<VarRegistry [{ids}]>"
