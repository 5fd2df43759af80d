"""What a task saw, as plain JSON data, and back.

A task may run behind a broker whose result backend speaks JSON only, so a
probe never returns a Python value as is: it returns :func:`describe` of it, a
tagged tree of ``dict``/``list``/``str``/``bool``/``None`` that survives pickle
and JSON alike, with the exact type of every value (``(1, 2)`` stays a tuple,
``2**70`` an int, ``b"x"`` bytes).  The caller :func:`undescribe`-s it back, so
checks compare real values and the suite never mistakes a lossy result
transport for lost propagation.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid
from typing import Any


class Unset:
    """The observation "this var has no value in the task"."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unset>"

    def __reduce__(self) -> str:
        return "UNSET"


UNSET = Unset()


@dataclasses.dataclass(frozen=True)
class Opaque:
    """A value of a type the codec does not rebuild: its type and repr, compared as such."""

    type: str
    repr: str

    def __repr__(self) -> str:
        return self.repr


def _qualname(tp: type) -> str:
    return f"{tp.__module__}:{tp.__qualname__}"


def describe(value: Any) -> Any:
    """``value`` as tagged JSON-able data (see the module docstring)."""
    if value is None or (isinstance(value, str) and type(value) is str):
        return value
    tp = type(value)
    if value is UNSET:
        return {"unset": True}
    if tp is bool:
        return {"bool": value}
    if tp in (int, float, complex):
        return {tp.__name__: repr(value)}
    if tp is bytes:
        return {"bytes": value.hex()}
    if tp in _ISO:
        return {tp.__name__: value.isoformat()}
    if tp is datetime.timedelta:
        return {"timedelta": [value.days, value.seconds, value.microseconds]}
    if tp is decimal.Decimal:
        return {"Decimal": str(value)}
    if tp is uuid.UUID:
        return {"UUID": str(value)}
    if tp in (tuple, list):
        return {tp.__name__: [describe(v) for v in value]}
    if tp is dict:
        return {"dict": [[describe(k), describe(v)] for k, v in value.items()]}
    if tp in (set, frozenset):
        items = sorted((describe(v) for v in value), key=lambda d: json.dumps(d, sort_keys=True))
        return {tp.__name__: items}
    if dataclasses.is_dataclass(value):
        fields = {f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"dataclass": _qualname(tp), "fields": fields}
    if tp is Opaque:
        return {"object": value.type, "repr": value.repr}
    return {"object": _qualname(tp), "repr": repr(value)}


_SCALARS: dict[str, Any] = {"int": int, "float": float, "complex": complex}
_ISO: dict[type, Any] = {
    datetime.datetime: datetime.datetime.fromisoformat,
    datetime.date: datetime.date.fromisoformat,
    datetime.time: datetime.time.fromisoformat,
}
_BY_NAME: dict[str, Any] = {
    **{tp.__name__: parse for tp, parse in _ISO.items()},
    "Decimal": decimal.Decimal,
    "UUID": uuid.UUID,
}
_TRUSTED_MODULE_PREFIX = "ctxprop_conformance."


def _dataclass_type(name: str) -> type | None:
    """Rebuild only the suite's own dataclasses: never import a name a runtime sent."""
    import importlib

    module, _, qualname = name.partition(":")
    if not module.startswith(_TRUSTED_MODULE_PREFIX):
        return None
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and dataclasses.is_dataclass(obj) else None


def undescribe(data: Any) -> Any:
    """The value :func:`describe` described (an :class:`Opaque` for unknown types)."""
    if data is None or isinstance(data, str):
        return data
    if isinstance(data, list):  # a transport that turned a description's list into ... a list
        return [undescribe(v) for v in data]
    if not isinstance(data, dict) or not data:
        raise ValueError(f"not a ctxprop observation: {data!r}")
    tag = next(iter(data))
    body = data[tag]
    if tag == "unset":
        return UNSET
    if tag == "bool":
        return bool(body)
    if tag in _SCALARS:
        return _SCALARS[tag](body) if tag != "int" else int(body)
    if tag == "bytes":
        return bytes.fromhex(body)
    if tag in _BY_NAME:
        return _BY_NAME[tag](body)
    if tag == "timedelta":
        return datetime.timedelta(*body)
    if tag == "tuple":
        return tuple(undescribe(v) for v in body)
    if tag == "list":
        return [undescribe(v) for v in body]
    if tag == "dict":
        return {undescribe(k): undescribe(v) for k, v in body}
    if tag in ("set", "frozenset"):
        items = [undescribe(v) for v in body]
        return set(items) if tag == "set" else frozenset(items)
    if tag == "dataclass":
        fields = {k: undescribe(v) for k, v in data["fields"].items()}
        tp = _dataclass_type(body)
        return tp(**fields) if tp is not None else Opaque(body, f"{body}({fields!r})")
    if tag == "object":
        return Opaque(body, data["repr"])
    raise ValueError(f"unknown observation tag {tag!r}")
