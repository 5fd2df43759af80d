"""Probe vars and the functions tasks run: everything a worker must import.

Every probe var is a module-level attribute of this module, named after where
it lives (``ctxprop_conformance.probes:V``), so a runtime that ships vars by
reference resolves each one with ``module:attribute`` in a worker process.

Every task body exists twice, as a plain function and as a coroutine function;
a :class:`Probe` pairs them so a scenario names one probe for both kinds.  Task
bodies take only plain arguments (str, int, lists, str-keyed dicts: JSON-safe;
a gate is an address string, a nested runner a :data:`RunnerRef` dict) and
return :func:`~ctxprop_conformance.observations.describe`-d data, so a broker
that speaks JSON carries them both ways.  A broker adapter registers one task,
:func:`run_probe` (or :func:`run_probe_async`), and submits
``run_probe(task_name(fn), *args)``: see docs/adapters.md.
"""

from __future__ import annotations

import contextvars
import datetime
import decimal
import importlib
import pickle
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from ctxprop_conformance import gates
from ctxprop_conformance.observations import UNSET, describe

__all__ = ["UNSET", "RunnerRef", "run_probe", "run_probe_async", "task_name", "var_ref"]

_HERE = __name__


def _var(attribute: str, **default: Any) -> contextvars.ContextVar[Any]:
    """A probe var whose name says where it is importable from."""
    return contextvars.ContextVar(f"{_HERE}:{attribute}", **default)


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


V = _var("V")
W = _var("W")
D = _var("D", default="D-default")
U = _var("U", default="U-default")
DEP = _var("DEP")

# F4: twenty vars, each a module attribute (values in F4_VALUES)
F4_none = _var("F4_none")
F4_str = _var("F4_str")
F4_empty_str = _var("F4_empty_str")
F4_unicode = _var("F4_unicode")
F4_int = _var("F4_int")
F4_negative_int = _var("F4_negative_int")
F4_big_int = _var("F4_big_int")
F4_bool = _var("F4_bool")
F4_float = _var("F4_float")
F4_bytes = _var("F4_bytes")
F4_tuple = _var("F4_tuple")
F4_empty_tuple = _var("F4_empty_tuple")
F4_nested_tuple = _var("F4_nested_tuple")
F4_list = _var("F4_list")
F4_dict = _var("F4_dict")
F4_nested = _var("F4_nested")
F4_empty_dict = _var("F4_empty_dict")
F4_dataclass = _var("F4_dataclass")
F4_frozenset = _var("F4_frozenset")
F4_complex = _var("F4_complex")

#: F4: the value each F4 var carries (type matters as much as value)
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
    name: globals()[f"F4_{name}"] for name in F4_VALUES
}

# S1: what F4 carries plus the types a JSON snapshot codec must handle
S1_datetime = _var("S1_datetime")
S1_date = _var("S1_date")
S1_timedelta = _var("S1_timedelta")
S1_decimal = _var("S1_decimal")
S1_uuid = _var("S1_uuid")
S1_str_frozenset = _var("S1_str_frozenset")
S1_closure = _var("S1_closure")

S1_VALUES: dict[str, Any] = {
    "datetime": datetime.datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=datetime.timezone.utc),
    "date": datetime.date(2026, 12, 2),
    "timedelta": datetime.timedelta(days=1, seconds=2, microseconds=3),
    "decimal": decimal.Decimal("12.3400"),
    "uuid": uuid.UUID("6f1c2a5e-8d3b-4c7a-9e2f-0b1d2c3e4f5a"),
    "str_frozenset": frozenset({"tenant-a", "tenant-b", "tenant-c"}),
}
S1_VARS: dict[str, contextvars.ContextVar[Any]] = {
    name: globals()[f"S1_{name}"] for name in S1_VALUES
}

#: S2: set to a value no serializer can carry (a lock)
UNSERIALIZABLE = _var("UNSERIALIZABLE")

#: every var a task may be asked about, by short name
VARS: dict[str, contextvars.ContextVar[Any]] = {
    "V": V,
    "W": W,
    "D": D,
    "U": U,
    "DEP": DEP,
    **{f"F4.{name}": var for name, var in F4_VARS.items()},
    **{f"S1.{name}": var for name, var in S1_VARS.items()},
    "S1.closure": S1_closure,
    "UNSERIALIZABLE": UNSERIALIZABLE,
}

#: the vars a runtime with vars_travel="registered" is asked to register (not U)
REGISTERED: tuple[contextvars.ContextVar[Any], ...] = tuple(
    var for name, var in VARS.items() if name != "U"
)


def var_ref(var: contextvars.ContextVar[Any]) -> str:
    """``module:attribute`` of a probe var (its name), for runtimes that ship references."""
    return var.name


def observe(name: str) -> Any:
    """What ``var.get()`` gives here (a default counts), or :data:`UNSET` on LookupError."""
    try:
        return VARS[name].get()
    except LookupError:
        return UNSET


def observe_all(names: Iterable[str]) -> dict[str, Any]:
    return {name: observe(name) for name in names}


def _apply(values: dict[str, Any]) -> None:
    for name, value in values.items():
        VARS[name].set(value)


def current_request() -> Any:
    """A plain sync helper with no injected parameters (F5), like get_http_request()."""
    return observe("V")


def make_closure(greeting: str) -> Any:
    """S1: a closure (only cloudpickle carries it), returning what it closed over."""

    def closure() -> str:
        return f"{greeting} from a closure"

    return closure


def local_var() -> contextvars.ContextVar[Any]:
    """S6: a var that is no module attribute, so no worker can import it."""
    return contextvars.ContextVar("S6_LOCAL_VAR (local to ctxprop_conformance.probes.local_var)")


class _RunsCode:
    """S4: unpickling this connects to the suite's signal: proof that payload code ran."""

    def __init__(self, signal: str) -> None:
        self.signal = signal

    def __reduce__(self) -> tuple[Any, ...]:
        return (gates.fire_sync, (self.signal,))


def foreign_payload(signal: str) -> bytes:
    """S4: bytes that run code (they fire ``signal``) if a worker ever unpickles them."""
    return pickle.dumps(_RunsCode(signal))


def set_ambient() -> None:
    """Worker initializer for I6: an ambient value set when the worker starts."""
    W.set("w")


# -- nested runners (F6) --------------------------------------------------------------

#: how a task reaches "the same runtime" again: a factory by name and plain arguments;
#: ``{"factory": "pkg.mod:make_runner", "args": [...]}``.  The factory, called where the
#: task runs, returns an object with ``call(fn, *args)`` (a coroutine for async tasks).
RunnerRef = dict[str, Any]


def resolve_runner(ref: RunnerRef) -> Any:
    module, _, qualname = str(ref["factory"]).partition(":")
    factory: Any = importlib.import_module(module)
    for part in qualname.split("."):
        factory = getattr(factory, part)
    return factory(*ref.get("args", ()))


# -- task bodies -----------------------------------------------------------------------


def task_read(names: list[str]) -> Any:
    return describe(observe_all(names))


async def task_read_async(names: list[str]) -> Any:
    return describe(observe_all(names))


def task_set_then_read(values: dict[str, Any], names: list[str]) -> Any:
    _apply(values)
    return describe(observe_all(names))


async def task_set_then_read_async(values: dict[str, Any], names: list[str]) -> Any:
    _apply(values)
    return describe(observe_all(names))


def task_hold_then_read(gate: str, names: list[str]) -> Any:
    gates.wait_sync(gate)
    return describe(observe_all(names))


async def task_hold_then_read_async(gate: str, names: list[str]) -> Any:
    await gates.wait_async(gate)
    return describe(observe_all(names))


def task_helper_read() -> Any:
    return describe(current_request())


async def task_helper_read_async() -> Any:
    return describe(current_request())


def task_dependency_reads(rounds: int) -> Any:
    """Per read: (V, owner of the resolved dependency, same object as the first read)."""
    first = DEP.get(None)
    out = []
    for _ in range(rounds):
        dep = DEP.get(None)
        out.append((V.get(UNSET), None if dep is None else dep.owner, dep is first))
        time.sleep(0)  # let other tasks run between reads
    return describe(out)


async def task_dependency_reads_async(rounds: int) -> Any:
    import anyio

    first = DEP.get(None)
    out = []
    for _ in range(rounds):
        dep = DEP.get(None)
        out.append((V.get(UNSET), None if dep is None else dep.owner, dep is first))
        await anyio.sleep(0)  # let other tasks run between reads
    return describe(out)


def task_set_then_raise(values: dict[str, Any], message: str) -> None:
    _apply(values)
    raise ProbeError(message)


async def task_set_then_raise_async(values: dict[str, Any], message: str) -> None:
    _apply(values)
    raise ProbeError(message)


def task_set_then_block(values: dict[str, Any], started: str, gate: str) -> None:
    _apply(values)
    gates.fire_sync(started)
    gates.wait_sync(gate)


async def task_set_then_block_async(values: dict[str, Any], started: str, gate: str) -> None:
    _apply(values)
    await gates.fire_async(started)
    await gates.wait_async(gate)


def task_set_then_nested_read(runner: RunnerRef, values: dict[str, Any], names: list[str]) -> Any:
    _apply(values)
    return resolve_runner(runner).call(task_read, names)


async def task_set_then_nested_read_async(
    runner: RunnerRef, values: dict[str, Any], names: list[str]
) -> Any:
    _apply(values)
    return await resolve_runner(runner).call(task_read_async, names)


def task_call_closure(name: str) -> Any:
    return describe(VARS[name].get()())


async def task_call_closure_async(name: str) -> Any:
    return describe(VARS[name].get()())


def task_context_has(names: list[str]) -> Any:
    """S5: which vars are *in* the task's context (a default-only var must not be)."""
    context = contextvars.copy_context()
    return describe({name: VARS[name] in context for name in names})


async def task_context_has_async(names: list[str]) -> Any:
    context = contextvars.copy_context()
    return describe({name: VARS[name] in context for name in names})


def task_set_then_unset(name: str, value: Any) -> Any:
    token = VARS[name].set(value)
    VARS[name].reset(token)
    return describe(observe_all((name,)))


async def task_set_then_unset_async(name: str, value: Any) -> Any:
    import anyio

    token = VARS[name].set(value)
    # a runtime that ships changes at await points sees the value here ...
    await anyio.lowlevel.checkpoint()
    # ... and must then ship "no value" too (B4)
    VARS[name].reset(token)
    return describe(observe_all((name,)))


@dataclass(frozen=True)
class Probe:
    """One task body in both forms, and the name it goes by in reports."""

    name: str
    sync: Callable[..., Any]
    async_: Callable[..., Coroutine[Any, Any, Any]]

    def for_kind(self, kind: str) -> Callable[..., Any]:
        return self.async_ if kind == "async" else self.sync


READ = Probe("read", task_read, task_read_async)
SET_THEN_READ = Probe("set_then_read", task_set_then_read, task_set_then_read_async)
HOLD_THEN_READ = Probe("hold_then_read", task_hold_then_read, task_hold_then_read_async)
HELPER_READ = Probe("helper_read", task_helper_read, task_helper_read_async)
DEPENDENCY_READS = Probe("dependency_reads", task_dependency_reads, task_dependency_reads_async)
SET_THEN_RAISE = Probe("set_then_raise", task_set_then_raise, task_set_then_raise_async)
SET_THEN_BLOCK = Probe("set_then_block", task_set_then_block, task_set_then_block_async)
SET_THEN_NESTED_READ = Probe(
    "set_then_nested_read", task_set_then_nested_read, task_set_then_nested_read_async
)
SET_THEN_UNSET = Probe("set_then_unset", task_set_then_unset, task_set_then_unset_async)
CALL_CLOSURE = Probe("call_closure", task_call_closure, task_call_closure_async)
CONTEXT_HAS = Probe("context_has", task_context_has, task_context_has_async)

PROBES: tuple[Probe, ...] = (
    READ,
    SET_THEN_READ,
    HOLD_THEN_READ,
    HELPER_READ,
    DEPENDENCY_READS,
    SET_THEN_RAISE,
    SET_THEN_BLOCK,
    SET_THEN_NESTED_READ,
    SET_THEN_UNSET,
    CALL_CLOSURE,
    CONTEXT_HAS,
)


def task_name(fn: Callable[..., Any]) -> str:
    """The name a task body goes by on the wire: ``module:qualname``."""
    return f"{fn.__module__}:{fn.__qualname__}"


_TASKS: dict[str, Callable[..., Any]] = {
    task_name(fn): fn for probe in PROBES for fn in (probe.sync, probe.async_)
}


def _task(target: str) -> Callable[..., Any]:
    try:
        return _TASKS[target]
    except KeyError:
        raise LookupError(
            f"{target!r} is not a ctxprop probe task (known: {', '.join(sorted(_TASKS))})"
        ) from None


def run_probe(target: str, *args: Any) -> Any:
    """The one entry point a broker worker needs: run the probe task named ``target``.

    Only the suite's own task bodies can be named: a worker never imports an
    arbitrary name it received.
    """
    return _task(target)(*args)


async def run_probe_async(target: str, *args: Any) -> Any:
    """:func:`run_probe` for runtimes whose tasks are coroutines."""
    return await _task(target)(*args)
