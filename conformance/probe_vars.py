"""The probe vars: module-level ContextVars owned by the suite, importable by any worker.

Every var here is named after where it lives (``ctxprop_conformance.probe_vars:V``),
so a runtime that ships vars by reference resolves each one with
``module:attribute`` in a worker process.  :mod:`ctxprop_conformance.probes`
re-exports them next to the task bodies that read them.
"""

from __future__ import annotations

import contextvars
import datetime
import decimal
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEP",
    "F4_VALUES",
    "F4_VARS",
    "REGISTERED",
    "S1_VALUES",
    "S1_VARS",
    "UNSERIALIZABLE",
    "VARS",
    "D",
    "Dependency",
    "F4_big_int",
    "F4_bool",
    "F4_bytes",
    "F4_complex",
    "F4_dataclass",
    "F4_dict",
    "F4_empty_dict",
    "F4_empty_str",
    "F4_empty_tuple",
    "F4_float",
    "F4_frozenset",
    "F4_int",
    "F4_list",
    "F4_negative_int",
    "F4_nested",
    "F4_nested_tuple",
    "F4_none",
    "F4_str",
    "F4_tuple",
    "F4_unicode",
    "Record",
    "S1_closure",
    "S1_date",
    "S1_datetime",
    "S1_decimal",
    "S1_str_frozenset",
    "S1_timedelta",
    "S1_uuid",
    "U",
    "V",
    "W",
    "var_ref",
]

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
