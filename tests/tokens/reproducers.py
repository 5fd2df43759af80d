"""Reading TP's fail reason back: the reproducer scripts it prints, replayed."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import cloudpickle

IMPORT_LINE = "    import contextvars as cv, copy, pickle, cloudpickle"
DIVERGES = "  # <- diverges here"


def scripts(message: str) -> list[list[str]]:
    """Every reproducer in ``message``, in order, as its lines (the import line left out)."""
    found: list[list[str]] = []
    current: list[str] | None = None
    for line in message.splitlines():
        if line == IMPORT_LINE:
            current = []
        elif current is not None:
            current.append(line.strip())
            if line.endswith(DIVERGES):
                found.append(current)
                current = None
    return found


def replay(script: list[str], module: Any) -> tuple[type[BaseException] | None, object]:
    """Run a reproducer's lines against ``module`` as ``cv``: the last one's outcome."""
    namespace: dict[str, Any] = {"cv": module, "copy": copy, "pickle": pickle}
    namespace["cloudpickle"] = cloudpickle
    *setup, last = script
    for line in setup:
        exec(line, namespace)
    try:
        return None, eval(last.removesuffix(DIVERGES.strip()).strip(), namespace)
    except Exception as error:
        return type(error), str(error)
