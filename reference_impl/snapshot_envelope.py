"""The snapshot record on the wire: a one-line ASCII header, then the codec's body.

Version 2 (written)::

    ctxprop-snapshot/2 <codec> <task-id> <signature>\\n<body>

``<signature>`` is the hex HMAC-SHA256, under the signing key, of the record
with `` <signature>`` left out (``ctxprop-snapshot/2 <codec> <task-id>\\n<body>``),
so it covers the version, the codec, the task id and the body; ``-`` when the
record is unsigned.  Version 1 (read only) is a JSON document
``{"ctxprop_snapshot": 1, "vars": {var_id: value}}`` with every value in the
json codec's tagged form: no task id, no codec field, never signed.

Parsing reads only the header and (for version 1) JSON; a body is handed to a
codec by the serializer, after the signature check.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from typing import Final, NamedTuple

from ctxprop_reference.snapshot_errors import SnapshotVersionError

__all__ = ["FORMAT_VERSION", "READ_VERSIONS"]

#: the format version this library writes
FORMAT_VERSION: Final = 2
#: the format versions this library reads
READ_VERSIONS: Final = (1, 2)

_MAGIC: Final = b"ctxprop-snapshot/"
_HEAD_START: Final = b"%s%d " % (_MAGIC, FORMAT_VERSION)
_HEADER_MAX: Final = 512
_TASK_ID: Final = re.compile(r"[!-~]{1,200}")
_CODEC_NAME: Final = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
_HEADER_V2: Final = re.compile(
    rb"ctxprop-snapshot/2 ([a-z][a-z0-9_.-]{0,31}) ([!-~]{1,200}) (-|[0-9a-f]{64})\n"
)


class _Foreign(ValueError):
    """Not a ctxprop snapshot record at all (S4: rejected)."""


class _Malformed(ValueError):
    """A ctxprop record that is damaged (S3: empty context, or fail closed)."""


class _Envelope(NamedTuple):
    version: int
    codec: str
    task_id: str | None  # None: version 1 records name no task
    signature: str | None  # None: unsigned
    signed_part: bytes  # what the signature covers (b"" when unsigned)
    body: bytes


def checked_task_id(task_id: object) -> str:
    """``task_id`` if it fits in a header: 1-200 printable ASCII characters, no space."""
    if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
        raise ValueError(
            f"a task id is 1-200 printable ASCII characters without spaces, got {task_id!r}"
        )
    return task_id


def sign(key: bytes, signed_part: bytes) -> str:
    """The hex HMAC-SHA256 of ``signed_part`` under ``key``."""
    mac = _keyed_hmac(key).copy()  # a copy of the keyed state: no key set-up per record
    mac.update(signed_part)
    return mac.hexdigest()


@functools.lru_cache(maxsize=16)
def _keyed_hmac(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def build(codec: str, task_id: str, body: bytes, key: bytes | None) -> bytes:
    """A version-2 record; signed when ``key`` is given."""
    head = _HEAD_START + codec.encode() + b" " + task_id.encode()
    if key is None:
        return head + b" -\n" + body
    signature = sign(key, head + b"\n" + body)
    return head + b" " + signature.encode() + b"\n" + body


def parse(record: bytes, task_id: str) -> _Envelope:
    """Split ``record`` into its fields; _Foreign, _Malformed or SnapshotVersionError."""
    if not isinstance(record, (bytes, bytearray, memoryview)):
        raise _Foreign(f"it is a {type(record).__name__}, not bytes")
    record = bytes(record)
    if record[:1] == b"{":
        return _parse_version_1(record, task_id)
    if not record.startswith(_MAGIC):
        raise _Foreign("it does not start with a ctxprop snapshot header")
    header = _HEADER_V2.match(record)
    if header is not None:  # the common case: one match, every field checked
        codec, record_task, signature = header.groups()
        end = header.end()
        if signature == b"-":
            return _Envelope(
                FORMAT_VERSION, codec.decode(), record_task.decode(), None, b"", record[end:]
            )
        return _Envelope(
            FORMAT_VERSION,
            codec.decode(),
            record_task.decode(),
            signature.decode(),
            record[: header.start(3) - 1] + record[end - 1 :],
            record[end:],
        )
    end = record.find(b"\n", 0, _HEADER_MAX)
    if end < 0:
        raise _Malformed(f"no header line within its first {_HEADER_MAX} bytes")
    # not a well-formed version-2 header: say exactly what is wrong
    try:
        fields = record[:end].decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise _Malformed("the header is not ASCII") from None
    version_text = fields[0][len(_MAGIC) :]
    if not (version_text.isascii() and version_text.isdigit()):
        raise _Malformed(f"the header's version {version_text!r} is not a number")
    version = _checked_version(int(version_text), task_id)
    if version != FORMAT_VERSION or len(fields) != 4:
        raise _Malformed(f"the header has {len(fields)} fields, not a version-2 header")
    _, codec, record_task, _signature = fields
    if not _CODEC_NAME.fullmatch(codec) or not _TASK_ID.fullmatch(record_task):
        raise _Malformed("the header's codec or task id is not well formed")
    raise _Malformed("the header's signature is neither '-' nor 64 hex digits")


def _checked_version(version: int, task_id: str) -> int:
    if version > FORMAT_VERSION:
        raise SnapshotVersionError(
            f"the snapshot of task {task_id!r} is in format version {version}, newer than "
            f"this ctxprop_reference reads (versions {READ_VERSIONS[0]}-{READ_VERSIONS[-1]}); "
            "upgrade ctxprop_reference on the workers before the submitters",
            task_id=task_id,
            version=version,
        )
    if version not in READ_VERSIONS:
        raise _Malformed(f"format version {version} does not exist")
    return version


def _parse_version_1(record: bytes, task_id: str) -> _Envelope:
    try:
        document = json.loads(record)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _Malformed("it starts like a version-1 record but is not JSON") from None
    if type(document) is not dict or "ctxprop_snapshot" not in document:
        raise _Foreign("it is JSON, but not a ctxprop snapshot")
    version = document["ctxprop_snapshot"]
    if type(version) is not int:
        raise _Malformed("its 'ctxprop_snapshot' version is not an int")
    _checked_version(version, task_id)
    if version != 1 or type(document.get("vars")) is not dict:
        raise _Malformed("a version-1 record is {'ctxprop_snapshot': 1, 'vars': {...}}")
    values = document["vars"]
    # the version-2 json body: every value may hold tags
    body = json.dumps({"v": values, "t": list(values)}, separators=(",", ":")).encode()
    return _Envelope(1, "json", None, None, b"", body)
