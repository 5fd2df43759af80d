"""Who broke: the runtime (verdict ``fail``) or the adapter (verdict ``error``).

An exception out of ``submit``/``result``/``call`` is the runtime's when it was
raised inside the runtime's code (the I2 bug "cannot enter context ... already
entered" is the runtime refusing concurrent tasks) and the adapter's when it
was raised by the adapter's own method body (it could not read its own handle).
Tracebacks shown for adapter errors keep the adapter's and the runtime's frames
only, never the suite's or the event loop's, and are formatted without parsing
source.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from types import TracebackType

import anyio
import pytest

import ctxprop_conformance
import pytest_ctxprop

_SUITE_DIRS = tuple(
    str(Path(m.__file__).parent)  # type: ignore[arg-type]
    for m in (ctxprop_conformance, pytest_ctxprop, anyio, pytest)
)
_STDLIB_DIR = str(Path(traceback.__file__).parent)


def _frames(tb: TracebackType | None) -> list[TracebackType]:
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


#: the adapter methods the suite calls: an exception raised in one of these bodies is the
#: adapter's; one raised in any other code (the runtime's, the adapter's helpers that
#: run as part of the runtime, the task) is the runtime's
CONTRACT_METHODS = frozenset(
    {"start", "stop", "lifespan", "submit", "result", "call", "cancel", "register",
     "declare_forward_only", "nested_runner", "snapshot_access"}
)  # fmt: skip


def raised_by_adapter(exc: BaseException, adapter: object) -> bool:
    """Whether ``exc``'s innermost frame is the body of one of the adapter's contract methods."""
    frames = _frames(exc.__traceback__)
    if not frames:
        return False
    code = frames[-1].tb_frame.f_code
    for klass in type(adapter).__mro__:
        if klass is object or klass.__module__ in ("pytest_ctxprop.adapter", "abc"):
            continue  # the contract's own defaults are not the adapter's code
        for name in CONTRACT_METHODS & vars(klass).keys():
            func = getattr(vars(klass)[name], "__func__", vars(klass)[name])
            if getattr(func, "__code__", None) is code:
                return True
    return False


def _ours(filename: str) -> bool:
    return filename.startswith(_SUITE_DIRS) or (
        filename.startswith(_STDLIB_DIR) and "site-packages" not in filename
    )


def trimmed_traceback(exc: BaseException, limit: int = 12) -> str:
    """``exc``'s traceback with the suite's, pytest's, anyio's and stdlib frames left out."""
    summary = traceback.extract_tb(exc.__traceback__)
    kept = [f for f in summary if not _ours(f.filename)]
    if not kept:
        kept = list(summary[-1:])
    # by hand: 3.11's StackSummary.format() parses source (ast) to draw carets, which
    # can crash a nested parse (cpython gh-106905); the line itself is enough
    head = "\n".join(
        f'  File "{f.filename}", line {f.lineno}, in {f.name}'
        + (f"\n    {f.line.strip()}" if f.line else "")
        for f in kept[-limit:]
    )
    return (
        f"{head}\n{type(exc).__qualname__}: {exc}" if head else f"{type(exc).__qualname__}: {exc}"
    )


def describe_exception(exc: BaseException) -> str:
    return f"{type(exc).__qualname__}: {exc}" if str(exc) else type(exc).__qualname__


if sys.version_info < (3, 11):  # pragma: no cover - anyio brings the backport
    from exceptiongroup import BaseExceptionGroup


def first_leaf(exc: BaseException) -> BaseException:
    """The exception a task raised, out of a task group's exception group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
