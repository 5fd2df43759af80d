"""The stdlib json, called the short way: the per-task hot path is mostly JSON.

``json.dumps`` / ``json.loads`` build a C encoder and run two Python frames per
call; for a body of a few hundred bytes that is a good part of the cost.  Here
the C encoder is built once (compact separators, ASCII, NaN refused, no
circular check: bodies are built by the codec, which refuses cycles itself) and
the C scanner is called directly.  Both routes are the stdlib's own; they are
checked against the public API at import, and where the C accelerator is
missing or differs (another interpreter, a future CPython) the public API is
used instead.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any, Final

__all__ = ["from_json", "to_json"]

_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_DECODER: Final = json.JSONDecoder()
_SAMPLE: Final = {"v": {"a:b": ["x", 1, 2.5, None, True, {"k": "ü"}]}, "t": []}


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _public_to_json(value: Any) -> str:
    return _ENCODER.encode(value)


def _public_from_json(text: str) -> Any:
    value, end = _DECODER.raw_decode(text)
    if end != len(text):
        raise ValueError("extra data after the JSON value")
    return value


def _short_routes() -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    scan_once = getattr(_DECODER, "scan_once", None)
    if make_encoder is None or scan_once is None:
        return _public_to_json, _public_from_json
    try:
        encode = make_encoder(
            None, _refuse, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
        )

        def to_json(value: Any) -> str:
            return "".join(encode(value, 0))

        def from_json(text: str) -> Any:
            try:
                value, end = scan_once(text, 0)
            except StopIteration as exc:
                raise ValueError(f"no JSON value at position {exc.value}") from None
            if end != len(text):
                raise ValueError("extra data after the JSON value")
            return value

        text = to_json(_SAMPLE)
        if text != _public_to_json(_SAMPLE) or from_json(text) != _SAMPLE:
            return _public_to_json, _public_from_json
        return to_json, from_json
    except Exception:
        return _public_to_json, _public_from_json


#: ``obj`` as compact ASCII JSON; ValueError for NaN or an int past the digit limit
to_json: Callable[[Any], str]
#: the JSON value that is exactly ``text``; ValueError otherwise
from_json: Callable[[str], Any]
to_json, from_json = _short_routes()
