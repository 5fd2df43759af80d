"""Turning what the user selected into runtimes and contextvars implementations.

Sources, in order: ``--ctxprop-runtime`` (repeatable), ini ``ctxprop_runtimes``,
and the ``pytest_ctxprop_runtimes`` hook.  A spec is a short name (built-in, or
from the ``ctxprop.runtimes`` entry-point group), ``NAME.*`` for a family of
short names, ``pkg.mod:factory``, or ``name=pkg.mod:factory``.  Anything wrong
is a :class:`pytest.UsageError` naming the spec and the problem.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

import pytest

from pytest_ctxprop._builtin import BUILTIN_RUNTIMES
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


def _import_object(spec: str, what: str) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not module_name:
        raise pytest.UsageError(f"{what}: {spec!r} names no module")
    try:
        obj: Any = importlib.import_module(module_name)
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


def _expand(spec: str, short: dict[str, str]) -> list[tuple[str, str]]:
    """One spec -> [(name, module:attr)]."""
    name, eq, target = spec.partition("=")
    if eq:
        return [(name.strip(), target.strip())]
    spec = spec.strip()
    if spec.endswith(".*"):
        family = [(n, t) for n, t in short.items() if n.startswith(spec[:-1])]
        if not family:
            raise pytest.UsageError(f"--ctxprop-runtime={spec}: no runtime names match")
        return family
    if spec in short:
        return [(spec, short[spec])]
    if ":" not in spec:
        raise pytest.UsageError(
            f"--ctxprop-runtime={spec}: not a known runtime name and not 'pkg.mod:factory' "
            f"(known names: {', '.join(sorted(short))})"
        )
    return [(spec, spec)]


def select_runtimes(config: pytest.Config) -> list[SelectedRuntime]:
    specs: list[str] = list(config.getoption("ctxprop_runtime") or [])
    specs += [s for s in config.getini("ctxprop_runtimes") if s.strip()]
    short = known_short_names() if specs else {}
    chosen: dict[str, SelectedRuntime] = {}
    for spec in specs:
        for name, target in _expand(spec, short):
            if name not in chosen:
                what = f"runtime {name!r} ({target})"
                chosen[name] = _runtime(name, _import_object(target, what), what)
    for mapping in config.hook.pytest_ctxprop_runtimes(config=config):
        for name, factory in (mapping or {}).items():
            if name in chosen:
                raise pytest.UsageError(f"runtime name {name!r} is selected twice")
            chosen[name] = _runtime(name, factory, f"runtime {name!r} (pytest_ctxprop_runtimes)")
    return list(chosen.values())


def select_contextvars(config: pytest.Config) -> list[ContextvarsImpl]:
    specs: list[str] = list(config.getoption("ctxprop_contextvars") or [])
    specs += [s for s in config.getini("ctxprop_contextvars") if s.strip()]
    impls: dict[str, ContextvarsImpl] = {}
    for spec in dict.fromkeys(s.strip() for s in specs):
        what = f"--ctxprop-contextvars={spec}"
        obj = _import_object(spec, what)
        missing = [a for a in _CONTEXTVARS_API if not hasattr(obj, a)]
        if missing:
            raise pytest.UsageError(f"{what}: {obj!r} lacks {', '.join(missing)}")
        deviations = dict(getattr(obj, "__ctxprop_deviations__", {}) or {})
        _check_deviations(spec, deviations)
        impls[spec] = ContextvarsImpl(spec, obj, MappingProxyType(deviations))
    return list(impls.values())
