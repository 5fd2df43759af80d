"""Turning what the user selected into runtimes and contextvars implementations.

Sources: ``--ctxprop-runtime`` (repeatable) or else ini ``ctxprop_runtime``, plus
the ``pytest_ctxprop_runtimes`` hook.  A spec is a short name (built-in, or
from the ``ctxprop.runtimes`` entry-point group), ``NAME.*`` for a family of
short names, ``pkg.mod:factory``, or ``name=pkg.mod:factory``.  Names are
unique and non-empty across all sources.  Anything wrong is a
:class:`pytest.UsageError` naming the spec and the problem.

A module that is not importable as is is looked for in the invocation folder,
then in the rootdir, and that folder goes first on ``sys.path`` (what
``python -m pytest`` and a rootdir ``conftest.py`` do), so a spec typed in the
repository root works with ``pytest`` and ``python -m pytest`` alike.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from pytest_ctxprop._builtin import BUILTIN_RUNTIMES
from pytest_ctxprop._settings import Specs
from pytest_ctxprop.adapter import AsyncRuntimeAdapter, RuntimeAdapter, RuntimeUnavailable, Traits

ENTRY_POINT_GROUP = "ctxprop.runtimes"
_CONTEXTVARS_API = ("ContextVar", "Token", "Context", "copy_context")


@dataclass(frozen=True)
class SelectedRuntime:
    """A runtime to test: its factory and declared traits (or why it cannot run)."""

    name: str
    factory: Callable[[], Any]
    traits: Traits
    unavailable: str | None = None

    @property
    def deviations(self) -> Mapping[str, str]:
        return self.traits.deviations


@dataclass(frozen=True)
class ContextvarsImpl:
    """A contextvars implementation to hold to stdlib parity (T1-T10, TP)."""

    name: str
    module: Any
    deviations: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))


def known_short_names() -> dict[str, str]:
    """Short name -> ``module:attr``: the built-ins, then installed entry points."""
    names = dict(BUILTIN_RUNTIMES)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(ep.name, ep.value)
    return names


def _short_name_conflicts() -> dict[str, list[str]]:
    """Short names declared with different targets (built-in and entry points)."""
    targets: dict[str, list[str]] = {n: [t] for n, t in BUILTIN_RUNTIMES.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        seen = targets.setdefault(ep.name, [])
        if ep.value not in seen:
            seen.append(ep.value)
    return {n: t for n, t in targets.items() if len(t) > 1}


def _import_module(module_name: str, search: Sequence[Path]) -> Any:
    """Import as is; else from the first search folder holding the top-level name."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.partition(".")[0]
        if exc.name != top:
            raise
        for folder in search:
            if (folder / top).is_dir() or (folder / f"{top}.py").is_file():
                if str(folder) not in sys.path:
                    sys.path.insert(0, str(folder))
                importlib.invalidate_caches()
                return importlib.import_module(module_name)
        raise


def _import_object(spec: str, what: str, search: Sequence[Path] = ()) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not module_name:
        raise pytest.UsageError(f"{what}: {spec!r} names no module")
    try:
        obj: Any = _import_module(module_name, search)
    except Exception as exc:
        raise pytest.UsageError(
            f"{what}: cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    if sep:
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise pytest.UsageError(
                    f"{what}: module {module_name!r} has no attribute {attr!r}"
                ) from None
    return obj


def _check_deviations(name: str, deviations: Iterable[str]) -> None:
    from ctxprop_conformance.properties import PROPERTIES

    unknown = sorted(set(deviations) - set(PROPERTIES))
    if unknown:
        raise pytest.UsageError(
            f"{name}: declared deviation for unknown property {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(PROPERTIES)})"
        )


def _runtime(name: str, factory: Any, what: str) -> SelectedRuntime:
    if not callable(factory):
        raise pytest.UsageError(f"{what}: {factory!r} is not callable (need an adapter factory)")
    try:
        adapter = factory()
    except RuntimeUnavailable as exc:
        return SelectedRuntime(name, factory, Traits(), unavailable=str(exc))
    except Exception as exc:
        raise pytest.UsageError(f"{what}: the factory raised {type(exc).__name__}: {exc}") from None
    if not isinstance(adapter, RuntimeAdapter | AsyncRuntimeAdapter):
        raise pytest.UsageError(
            f"{what}: the factory returned {type(adapter).__name__}, not a RuntimeAdapter "
            "or AsyncRuntimeAdapter (see docs/adapters.md)"
        )
    traits = adapter.traits
    if not isinstance(traits, Traits):
        raise pytest.UsageError(f"{what}: traits must be a pytest_ctxprop.Traits")
    _check_deviations(name, traits.deviations)
    return SelectedRuntime(name, factory, traits)


def _expand(spec: str, short: dict[str, str], origin: str) -> list[tuple[str, str]]:
    """One spec -> [(name, module:attr)]."""
    label = f"{origin}={spec}" if origin.startswith("--") else f"{origin}: {spec}"
    name, eq, target = spec.partition("=")
    if eq:
        if not name.strip():
            raise pytest.UsageError(f"{label}: empty runtime name before '='")
        if not target.strip():
            raise pytest.UsageError(f"{label}: nothing after '=' (need pkg.mod:factory)")
        return [(name.strip(), target.strip())]
    spec = spec.strip()
    if spec.endswith(".*"):
        family = [(n, t) for n, t in short.items() if n.startswith(spec[:-1])]
        if not family:
            raise pytest.UsageError(f"{label}: no runtime names match")
        return family
    if spec in short:
        return [(spec, short[spec])]
    if ":" not in spec:
        raise pytest.UsageError(
            f"{label}: not a known runtime name and not 'pkg.mod:factory' "
            f"(known names: {', '.join(sorted(short))})"
        )
    return [(spec, spec)]


def search_folders(config: pytest.Config) -> list[Path]:
    """Where a spec's module is looked for when it is not importable as is."""
    return list(dict.fromkeys([config.invocation_params.dir, config.rootpath]))


def _is_new(chosen: Mapping[str, tuple[str, Any]], name: str, target: str, source: str) -> bool:
    """False for the same runtime named twice; a usage error for one name, two runtimes."""
    if name not in chosen:
        return True
    if chosen[name][0] == target:
        return False  # e.g. by a family and by its own name
    raise pytest.UsageError(
        f"runtime name {name!r} is selected twice: {chosen[name][0]} and {target} "
        f"({source}); give one of them another name (name=pkg.mod:factory)"
    )


def select_runtimes(config: pytest.Config, specs: Specs) -> list[SelectedRuntime]:
    short = known_short_names() if specs.specs else {}
    conflicts = _short_name_conflicts() if specs.specs else {}
    search = search_folders(config)
    chosen: dict[str, tuple[str, SelectedRuntime]] = {}
    for spec in specs.specs:
        for name, target in _expand(spec, short, specs.origin):
            if name in conflicts and "=" not in spec:
                raise pytest.UsageError(
                    f"runtime name {name!r} is declared twice: {' and '.join(conflicts[name])} "
                    f"(built-in names and the {ENTRY_POINT_GROUP!r} entry points)"
                )
            if _is_new(chosen, name, target, specs.origin):
                what = f"runtime {name!r} ({target})"
                chosen[name] = (target, _runtime(name, _import_object(target, what, search), what))
    for mapping in config.hook.pytest_ctxprop_runtimes(config=config):
        for name, factory in (mapping or {}).items():
            if not isinstance(name, str) or not name.strip():
                raise pytest.UsageError(
                    f"pytest_ctxprop_runtimes returned the runtime name {name!r}: "
                    "need a non-empty string"
                )
            if _is_new(chosen, name, repr(factory), "pytest_ctxprop_runtimes hook"):
                what = f"runtime {name!r} (pytest_ctxprop_runtimes)"
                chosen[name] = (repr(factory), _runtime(name, factory, what))
    return [runtime for _, runtime in chosen.values()]


def select_contextvars(config: pytest.Config, specs: Specs) -> list[ContextvarsImpl]:
    search = search_folders(config)
    impls: dict[str, ContextvarsImpl] = {}
    for spec in dict.fromkeys(s.strip() for s in specs.specs):
        what = f"{specs.origin}={spec}" if specs.on_command_line else f"{specs.origin}: {spec}"
        obj = _import_object(spec, what, search)
        missing = [a for a in _CONTEXTVARS_API if not hasattr(obj, a)]
        if missing:
            raise pytest.UsageError(f"{what}: {obj!r} lacks {', '.join(missing)}")
        deviations = dict(getattr(obj, "__ctxprop_deviations__", {}) or {})
        _check_deviations(spec, deviations)
        impls[spec] = ContextvarsImpl(spec, obj, MappingProxyType(deviations))
    return list(impls.values())
