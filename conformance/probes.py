"""Probe vars and the functions tasks run: everything a worker must import.

Every probe exists twice, as a plain function (for runtimes that run callables)
and as a coroutine function (for runtimes that run coroutines); a :class:`Probe`
pairs them so a scenario names one probe for both kinds.  All are module-level,
so they pickle by reference into worker processes, and they return plain data:
var *names* go out, observed values come back, with :data:`UNSET` for a var that
has no value.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ctxprop_conformance.gates import Gate, Signal

_WAIT = 10.0  # seconds a task waits on a gate before giving up


class _Unset:
    """The observation "this var has no value in the task"."""

    def __repr__(self) -> str:
        return "<unset>"

    def __reduce__(self) -> str:
        return "UNSET"


UNSET = _Unset()


@dataclass(frozen=True)
class Record:
    """A dataclass value for F4: must arrive equal and as this type."""

    name: str
    tags: tuple[str, ...]


@dataclass(eq=False)
class Dependency:
    """A per-invocation object (I2): identity matters, so no value equality."""

    owner: int


class ProbeError(Exception):
    """The exception probe tasks raise (I4, B5); its type and message must survive."""


V: contextvars.ContextVar[Any] = contextvars.ContextVar("ctxprop.V")
W: contextvars.ContextVar[Any] = contextvars.ContextVar("ctxprop.W")
D: contextvars.ContextVar[Any] = contextvars.ContextVar("ctxprop.D", default="D-default")
U: contextvars.ContextVar[Any] = contextvars.ContextVar("ctxprop.U", default="U-default")
DEP: contextvars.ContextVar[Dependency] = contextvars.ContextVar("ctxprop.DEP")

#: F4: twenty vars and the value each carries (type matters as much as value)
F4_VALUES: dict[str, Any] = {
    "none": None,
    "str": "request-7f3a",
    "empty_str": "",
    "unicode": "tenant-ü-東京",
    "int": 42,
    "negative_int": -7,
    "big_int": 2**70,
    "bool": True,
    "float": 3.25,
    "bytes": b"\x00auth\xff",
    "tuple": (1, "two", 3.0),
    "empty_tuple": (),
    "nested_tuple": ((1, 2), ("a", ("b",))),
    "list": [1, 2, 3],
    "dict": {"user": "ada", "roles": ["admin"]},
    "nested": {"headers": {"x-request-id": ["a", "b"]}, "n": [{"k": (1, 2)}]},
    "empty_dict": {},
    "dataclass": Record("span", ("a", "b")),
    "frozenset": frozenset({1, 2}),
    "complex": 1 + 2j,
}
F4_VARS: dict[str, contextvars.ContextVar[Any]] = {
    name: contextvars.ContextVar(f"ctxprop.F4.{name}") for name in F4_VALUES
}

#: every var a task may be asked about, by name
VARS: dict[str, contextvars.ContextVar[Any]] = {
    "V": V,
    "W": W,
    "D": D,
    "U": U,
    "DEP": DEP,
    **{f"F4.{name}": var for name, var in F4_VARS.items()},
}

#: the vars a runtime with vars_travel="registered" is asked to register (not U)
REGISTERED: tuple[contextvars.ContextVar[Any], ...] = tuple(
    var for name, var in VARS.items() if name != "U"
)


def observe(name: str) -> Any:
    """What ``var.get()`` gives here (a default counts), or :data:`UNSET` on LookupError."""
    try:
        return VARS[name].get()
    except LookupError:
        return UNSET


def observe_all(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: observe(name) for name in names}


def _apply(values: dict[str, Any]) -> None:
    for name, value in values.items():
        VARS[name].set(value)


def current_request() -> Any:
    """A plain sync helper with no injected parameters (F5), like get_http_request()."""
    return observe("V")


def set_ambient() -> None:
    """Worker initializer for I6: an ambient value set when the worker starts."""
    W.set("w")


@dataclass(frozen=True)
class Probe:
    """One task body in both forms."""

    sync: Callable[..., Any]
    async_: Callable[..., Coroutine[Any, Any, Any]]

    def for_kind(self, kind: str) -> Callable[..., Any]:
        return self.async_ if kind == "async" else self.sync


# -- task bodies -----------------------------------------------------------------


def _read(names: tuple[str, ...]) -> dict[str, Any]:
    return observe_all(names)


async def _read_async(names: tuple[str, ...]) -> dict[str, Any]:
    return observe_all(names)


def _set_then_read(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    _apply(values)
    return observe_all(names)


async def _set_then_read_async(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    _apply(values)
    return observe_all(names)


def _hold_then_read(gate: Gate, names: tuple[str, ...]) -> dict[str, Any]:
    gate.wait_sync(_WAIT)
    return observe_all(names)


async def _hold_then_read_async(gate: Gate, names: tuple[str, ...]) -> dict[str, Any]:
    await gate.wait_async(_WAIT)
    return observe_all(names)


def _helper_read() -> Any:
    return current_request()


async def _helper_read_async() -> Any:
    return current_request()


def _dependency_reads(rounds: int) -> list[tuple[Any, int | None, bool]]:
    """Per read: (V, owner of the resolved dependency, same object as the first read)."""
    first = DEP.get(None)
    out = []
    for _ in range(rounds):
        dep = DEP.get(None)
        out.append((V.get(UNSET), None if dep is None else dep.owner, dep is first))
        time.sleep(0)  # let other tasks run between reads
    return out


async def _dependency_reads_async(rounds: int) -> list[tuple[Any, int | None, bool]]:
    import anyio

    first = DEP.get(None)
    out = []
    for _ in range(rounds):
        dep = DEP.get(None)
        out.append((V.get(UNSET), None if dep is None else dep.owner, dep is first))
        await anyio.sleep(0)  # let other tasks run between reads
    return out


def _set_then_raise(values: dict[str, Any], message: str) -> None:
    _apply(values)
    raise ProbeError(message)


async def _set_then_raise_async(values: dict[str, Any], message: str) -> None:
    _apply(values)
    raise ProbeError(message)


def _set_then_block(values: dict[str, Any], started: Signal, gate: Gate) -> None:
    _apply(values)
    started.fire_sync()
    gate.wait_sync(_WAIT)


async def _set_then_block_async(values: dict[str, Any], started: Signal, gate: Gate) -> None:
    _apply(values)
    await started.fire_async()
    await gate.wait_async(_WAIT)


def _set_then_nested_read(runner: Any, values: dict[str, Any], names: tuple[str, ...]) -> Any:
    _apply(values)
    return runner.call(READ.sync, names)


async def _set_then_nested_read_async(
    runner: Any, values: dict[str, Any], names: tuple[str, ...]
) -> Any:
    _apply(values)
    return await runner.call(READ.async_, names)


def _set_then_unset(name: str, value: Any) -> dict[str, Any]:
    token = VARS[name].set(value)
    VARS[name].reset(token)
    return observe_all((name,))


async def _set_then_unset_async(name: str, value: Any) -> dict[str, Any]:
    import anyio

    token = VARS[name].set(value)
    # a runtime that ships changes at await points sees the value here ...
    await anyio.lowlevel.checkpoint()
    # ... and must then ship "no value" too (B4)
    VARS[name].reset(token)
    return observe_all((name,))


READ = Probe(_read, _read_async)
SET_THEN_READ = Probe(_set_then_read, _set_then_read_async)
HOLD_THEN_READ = Probe(_hold_then_read, _hold_then_read_async)
HELPER_READ = Probe(_helper_read, _helper_read_async)
DEPENDENCY_READS = Probe(_dependency_reads, _dependency_reads_async)
SET_THEN_RAISE = Probe(_set_then_raise, _set_then_raise_async)
SET_THEN_BLOCK = Probe(_set_then_block, _set_then_block_async)
SET_THEN_NESTED_READ = Probe(_set_then_nested_read, _set_then_nested_read_async)
SET_THEN_UNSET = Probe(_set_then_unset, _set_then_unset_async)
