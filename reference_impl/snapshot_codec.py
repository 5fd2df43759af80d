"""How var values become snapshot bytes: JSON with type tags (default), or cloudpickle.

:class:`JsonCodec` writes plain JSON for str, int, float, bool, None, lists and
str-keyed dicts, and a tagged object ``{"$type": name, "$value": data}`` for
every other type it knows (the table is in docs/cross-process.md): tuple, set,
frozenset, bytes, bytearray, complex, non-finite floats, non-str-keyed dicts,
datetime, date, time, timedelta, Decimal, UUID, and the types registered with
:meth:`JsonCodec.register_type` / :meth:`JsonCodec.register_dataclass`.  A value
decodes to an equal value of the same type; a type it does not know is an error
naming the var (S2), never a silent drop or a ``str()`` of the value.

:class:`CloudpickleCodec` carries anything cloudpickle can.  Unpickling runs
code, so the serializer only accepts it with a signing key and only unpickles a
body whose signature it has verified (S4): this module never decides that.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import pickle
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, TypeVar

import cloudpickle

from ctxprop_reference.snapshot_json import from_json, to_json

__all__ = ["CloudpickleCodec", "JsonCodec"]

_T = TypeVar("_T")
_TAG: Final = "$type"
_VALUE: Final = "$value"
_PLAIN: Final = frozenset({str, int, bool, type(None)})
_NONFINITE: Final = frozenset({"nan", "inf", "-inf"})
_CONTAINERS: Final = frozenset({float, list, dict, tuple, set, frozenset})

#: one encoded body: {"v": {var_id: value}, "t": [ids whose value holds tags]}
_Failures = dict[str, tuple[str, str]]  # var_id -> (type name, detail)


class _MalformedBody(ValueError):
    """The body does not decode; the message names the var but never a value."""


class _Unencodable(Exception):
    def __init__(self, type_name: str, detail: str) -> None:
        super().__init__(detail)
        self.type_name = type_name
        self.detail = detail


@dataclass(frozen=True)
class _UserType:
    cls: type
    type_id: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _scalar_codecs() -> dict[type, tuple[str, Callable[[Any], Any], Callable[[Any], Any]]]:
    """Built-in tagged types without nested values: type -> (tag, encode, decode)."""
    return {
        bytes: ("bytes", lambda b: base64.b64encode(b).decode("ascii"), _b64decode),
        bytearray: (
            "bytearray",
            lambda b: base64.b64encode(b).decode("ascii"),
            lambda s: bytearray(_b64decode(s)),
        ),
        complex: ("complex", lambda c: [c.real, c.imag], lambda p: complex(*_pair(p))),
        _dt.datetime: ("datetime", _dt.datetime.isoformat, _iso(_dt.datetime)),
        _dt.date: ("date", _dt.date.isoformat, _iso(_dt.date)),
        _dt.time: ("time", _dt.time.isoformat, _iso(_dt.time)),
        _dt.timedelta: (
            "timedelta",
            lambda d: [d.days, d.seconds, d.microseconds],
            lambda p: _dt.timedelta(*_ints(p, 3)),
        ),
        Decimal: ("decimal", str, lambda s: Decimal(_str(s))),
        uuid.UUID: ("uuid", str, lambda s: uuid.UUID(_str(s))),
    }


def _str(data: Any) -> str:
    if type(data) is not str:
        raise TypeError(f"expected a str, got {type(data).__name__}")
    return data


def _b64decode(data: Any) -> bytes:
    return base64.b64decode(_str(data), validate=True)


def _iso(cls: Any) -> Callable[[Any], Any]:
    return lambda s: cls.fromisoformat(_str(s))


def _pair(data: Any) -> tuple[float, float]:
    if type(data) is not list or len(data) != 2:
        raise TypeError("expected [real, imag]")
    return float(data[0]), float(data[1])


def _ints(data: Any, count: int) -> list[int]:
    if type(data) is not list or len(data) != count or any(type(i) is not int for i in data):
        raise TypeError(f"expected a list of {count} ints")
    return data


class JsonCodec:
    """JSON with type tags: the default codec; safe to decode from any store."""

    name: Final = "json"

    def __init__(self) -> None:
        self._scalars = _scalar_codecs()
        self._scalar_decoders = {tag: dec for tag, _, dec in self._scalars.values()}
        self._user_by_type: dict[type, _UserType] = {}
        self._user_by_id: dict[str, _UserType] = {}

    def register_type(
        self,
        cls: type[_T],
        type_id: str,
        *,
        encode: Callable[[_T], Any],
        decode: Callable[[Any], _T],
    ) -> None:
        """Carry values of exactly ``cls`` (not subclasses) under ``type_id``.

        ``encode(value)`` returns data this codec can encode (it may hold tuples,
        datetimes, other registered types...); ``decode(data)`` gets that data back
        decoded and returns the value.  ``type_id`` is ``namespace:name``, so it
        never clashes with a built-in tag; the worker registers the same id.
        """
        if not isinstance(cls, type):
            raise TypeError(f"register_type needs a class, got {cls!r}")
        if not isinstance(type_id, str) or ":" not in type_id.strip(":"):
            raise ValueError(f"a type id is 'namespace:name', got {type_id!r}")
        if cls in _PLAIN or cls in _CONTAINERS or cls in self._scalars:
            raise ValueError(f"{cls.__name__} has a built-in codec and cannot be registered")
        if cls in self._user_by_type or type_id in self._user_by_id:
            raise ValueError(f"{cls.__qualname__} or type id {type_id!r} is already registered")
        entry = _UserType(cls, type_id, encode, decode)
        self._user_by_type[cls] = entry
        self._user_by_id[type_id] = entry

    def register_dataclass(self, cls: type[_T], type_id: str) -> None:
        """Carry a dataclass as its ``init`` fields; decoding calls ``cls(**fields)``."""
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"register_dataclass needs a dataclass type, got {cls!r}")
        names = tuple(f.name for f in dataclasses.fields(cls) if f.init)

        def encode(value: Any) -> dict[str, Any]:
            return {name: getattr(value, name) for name in names}

        def decode(data: Any) -> Any:
            if type(data) is not dict:
                raise TypeError(f"expected the fields of {cls.__qualname__}")
            return cls(**data)

        self.register_type(cls, type_id, encode=encode, decode=decode)

    # -- used by the serializer ------------------------------------------------------

    def _encode_vars(self, values: dict[str, Any]) -> tuple[bytes, _Failures]:
        """The body for ``values``, and the vars left out because they do not encode."""
        if _PLAIN.issuperset(map(type, values.values())):  # the common case: ids, names...
            try:
                return to_json({"v": values}).encode(), {}
            except ValueError:  # an int past sys.get_int_max_str_digits(): find out which
                pass
        others = [var_id for var_id, value in values.items() if type(value) not in _PLAIN]
        encoded = dict(values)
        tagged: list[str] = []
        failures: _Failures = {}
        for var_id in others:
            value = encoded[var_id]
            try:
                encoded[var_id], has_tags = self._encode(value)
            except _Unencodable as exc:
                failures[var_id] = (exc.type_name, exc.detail)
            except RecursionError:
                failures[var_id] = (type(value).__name__, "the value nests too deeply or is cyclic")
            except Exception as exc:  # a registered encode function failed
                failures[var_id] = (type(value).__name__, f"{type(exc).__name__}: {exc}")
            else:
                if has_tags:
                    tagged.append(var_id)
                continue
            del encoded[var_id]
        try:
            body = {"v": encoded, "t": tagged} if tagged else {"v": encoded}
            return to_json(body).encode(), failures
        except ValueError:
            pass
        for var_id in list(encoded):  # the error path: which var does JSON refuse?
            try:
                to_json(encoded[var_id])
            except ValueError as exc:
                failures[var_id] = (type(values[var_id]).__name__, f"ValueError: {exc}")
                del encoded[var_id]
        tagged = [var_id for var_id in tagged if var_id in encoded]
        body = {"v": encoded, "t": tagged} if tagged else {"v": encoded}
        return to_json(body).encode(), failures

    def _encode(self, value: Any) -> tuple[Any, bool]:
        kind = type(value)
        if kind in _PLAIN:
            return value, False
        if kind is float:
            if value - value == 0.0:  # finite
                return value, False
            return {_TAG: "float", _VALUE: repr(value)}, True
        if kind is list:
            for item in value:
                if type(item) not in _PLAIN:
                    return self._encode_items(value)
            return value, False  # flat and plain: json.dumps writes it as it is
        if kind is dict:
            if _TAG not in value:
                flat = True
                for key, item in value.items():
                    if type(key) is not str:
                        break
                    if flat and type(item) not in _PLAIN:
                        flat = False
                else:
                    return (value, False) if flat else self._encode_str_dict(value)
            pairs = [[self._encode(k)[0], self._encode(v)[0]] for k, v in value.items()]
            return {_TAG: "dict", _VALUE: pairs}, True
        if kind is tuple or kind is set or kind is frozenset:
            items, _ = self._encode_items(value)
            return {_TAG: kind.__name__, _VALUE: items}, True
        scalar = self._scalars.get(kind)
        if scalar is not None:
            return {_TAG: scalar[0], _VALUE: scalar[1](value)}, True
        user = self._user_by_type.get(kind)
        if user is not None:
            return {_TAG: user.type_id, _VALUE: self._encode(user.encode(value))[0]}, True
        raise _Unencodable(
            kind.__qualname__,
            f"the json codec has no entry for {kind.__module__}.{kind.__qualname__}: register "
            "it with JsonCodec.register_type, or opt in to cloudpickle",
        )

    def _encode_str_dict(self, value: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        out: dict[str, Any] = {}
        any_tags = False
        for key, item in value.items():
            out[key], tags = self._encode(item)
            any_tags = any_tags or tags
        return out, any_tags

    def _encode_items(self, values: Any) -> tuple[list[Any], bool]:
        out = []
        any_tags = False
        for item in values:
            encoded, tags = self._encode(item)
            out.append(encoded)
            any_tags = any_tags or tags
        return out, any_tags

    def _decode_vars(self, body: bytes) -> dict[str, Any]:
        """The values in ``body``; _MalformedBody (naming a var, never a value) otherwise."""
        try:
            document = from_json(body.decode())
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise _MalformedBody(f"the body is not JSON ({type(exc).__name__})") from None
        if type(document) is not dict or type(document.get("v")) is not dict:
            raise _MalformedBody("the body is not an object with a 'v' object")
        values: dict[str, Any] = document["v"]
        tagged = document.get("t", ())
        if type(tagged) is not list and tagged != ():
            raise _MalformedBody("the body's 't' is not a list")
        for var_id in tagged:
            if type(var_id) is not str or var_id not in values:
                raise _MalformedBody("the body's 't' names a var it does not carry")
            try:
                values[var_id] = self._decode(values[var_id])
            except Exception as exc:
                raise _MalformedBody(
                    f"the value of var {var_id!r} does not decode ({type(exc).__name__})"
                ) from None
        return values

    def _decode(self, data: Any) -> Any:
        kind = type(data)
        if kind is list:
            return [self._decode(item) for item in data]
        if kind is not dict:
            return data
        if _TAG not in data:
            return {key: self._decode(item) for key, item in data.items()}
        if len(data) != 2 or _VALUE not in data or type(data[_TAG]) is not str:
            raise TypeError("a tagged value is exactly {'$type': str, '$value': ...}")
        tag, value = data[_TAG], data[_VALUE]
        if tag in ("tuple", "set", "frozenset", "dict"):
            if type(value) is not list:
                raise TypeError(f"a {tag} is a list")
            items = [self._decode(item) for item in value]
            if tag == "dict":
                return {key: item for key, item in map(_checked_pair, items)}
            return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        if tag == "float":
            if value not in _NONFINITE:
                raise ValueError("a tagged float is nan, inf or -inf")
            return float(value)
        decoder = self._scalar_decoders.get(tag)
        if decoder is not None:
            return decoder(value)
        user = self._user_by_id.get(tag)
        if user is None:
            raise LookupError(f"type id {tag!r} is not registered with this codec")
        return user.decode(self._decode(value))


def _checked_pair(item: Any) -> tuple[Any, Any]:
    if type(item) is not list or len(item) != 2:
        raise TypeError("a dict item is [key, value]")
    return item[0], item[1]


class CloudpickleCodec:
    """cloudpickle: any picklable value, closures included.  Needs a signing key.

    The serializer refuses it without ``signing_key`` and unpickles only bodies
    whose HMAC it has verified first; a body is never unpickled on any other path.
    """

    name: Final = "cloudpickle"

    def _encode_vars(self, values: dict[str, Any]) -> tuple[bytes, _Failures]:
        try:
            return cloudpickle.dumps(values), {}
        except Exception:  # find the culprits: the error path only
            pass
        failures: _Failures = {}
        kept: dict[str, Any] = {}
        for var_id, value in values.items():
            try:
                cloudpickle.dumps(value)
            except Exception as exc:
                failures[var_id] = (type(value).__qualname__, f"{type(exc).__name__}: {exc}")
            else:
                kept[var_id] = value
        return cloudpickle.dumps(kept), failures

    def _decode_verified(self, body: bytes) -> dict[str, Any]:
        """Unpickle a body whose signature the caller has verified (never otherwise)."""
        try:
            values = pickle.loads(body)
        except Exception as exc:
            why = f"the signed body does not unpickle ({type(exc).__name__})"
            raise _MalformedBody(why) from None
        if type(values) is not dict or any(type(key) is not str for key in values):
            raise _MalformedBody("the signed body is not a dict of var ids")
        return values
