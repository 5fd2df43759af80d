"""Which library each matrix row measures, and its installed version.

A row's library is found from its name: the part before the first ``.``,
without a ``+ctxprop`` marker (``anyio.to_thread`` -> ``anyio``,
``celery+ctxprop.delay`` -> ``celery``).  A standard-library module is reported
as Python's own version; otherwise the distribution that provides that
top-level module (``importlib.metadata.packages_distributions``, so
``docket`` -> ``pydocket``), or one named like it.  The built-in rows are the
standard library (``stdlib.*``) and this package (``reference.*``).  Nothing is
imported: only installed metadata is read.
"""

from __future__ import annotations

import platform
import re
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import metadata

INTEGRATION_MARK = "+ctxprop"
_OWN_DISTRIBUTION = "pytest-ctxprop"
_BUILTIN_PREFIXES = {"stdlib": None, "reference": _OWN_DISTRIBUTION}


def library_of(row: str) -> str:
    """The top-level import name a row measures (``celery+ctxprop.delay`` -> ``celery``)."""
    return row.replace(INTEGRATION_MARK, "").partition(".")[0].partition(":")[0].strip()


def base_row(row: str) -> str:
    """The plain row an integration row sits next to (``+ctxprop`` removed)."""
    return row.replace(INTEGRATION_MARK, "")


def is_integration(row: str) -> bool:
    return INTEGRATION_MARK in row


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=1)
def _providers() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def library_version(row: str) -> dict[str, str | None]:
    """``{"library", "distribution", "version"}`` for one row; version None when not installed.

    ``distribution`` is None for the standard library (version: Python's).
    """
    library = library_of(row)
    if library in _BUILTIN_PREFIXES:
        dist = _BUILTIN_PREFIXES[library]
        if dist is None:
            return {"library": "python", "distribution": None,
                    "version": platform.python_version()}  # fmt: skip
        return {"library": library, "distribution": dist, "version": _version(dist)}
    if library in sys.stdlib_module_names:
        return {"library": library, "distribution": None, "version": platform.python_version()}
    candidates = list(_providers().get(library, ()))
    # prefer the distribution named like the module, then any other provider
    candidates.sort(key=lambda d: _normal(d) != _normal(library))
    candidates.append(library)
    for dist in dict.fromkeys(candidates):
        version = _version(dist)
        if version is not None:
            return {"library": library, "distribution": dist, "version": version}
    return {"library": library, "distribution": None, "version": None}


def collect_versions(rows: Iterable[str]) -> dict[str, dict[str, str | None]]:
    """Row name -> its library's version (see :func:`library_version`)."""
    return {row: library_version(row) for row in rows}


def describe(info: Mapping[str, str | None] | None) -> str:
    """``anyio 4.16.0``, ``Python 3.11.7 (stdlib)``, ``loky (not found)``; '' when unknown."""
    if not info:
        return ""
    if info.get("distribution") is None and info.get("version"):
        return f"Python {info['version']} (stdlib)"
    name = info.get("distribution") or info.get("library") or "?"
    return f"{name} {info['version']}" if info.get("version") else f"{name} (not found)"


def _group(row: str) -> int:
    return {"stdlib": 0, "reference": 1}.get(library_of(row), 2)


def ordered(rows: Iterable[str]) -> list[str]:
    """Built-in rows first, then by library; each ``+ctxprop`` row right after its plain row."""
    return sorted(dict.fromkeys(rows), key=lambda r: (_group(r), base_row(r), is_integration(r), r))
