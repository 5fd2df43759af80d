"""A var registered secret never shows its value: reprs, warnings, errors, logs."""

from __future__ import annotations

import contextvars
import logging
import threading
import traceback
import warnings

import pytest
import snapshot_probe_vars as probe_vars

from ctxprop_reference.snapshot import (
    CloudpickleCodec,
    JsonCodec,
    MemoryStore,
    SnapshotError,
    SnapshotSerializer,
    SnapshotWarning,
    TaskSnapshots,
    VarRegistry,
)

SECRET = "S3CR3T-bearer-token-value"
KEY = b"secrets-tests-signing-key-32byte"


class Opaque:
    """A value whose encoder and decoder put the secret into their error messages."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Opaque({self.text!r})"

    def __reduce__(self) -> str:
        raise TypeError(f"cannot pickle {self.text}")


def _codec(fail_decode: bool = False) -> JsonCodec:
    codec = JsonCodec()

    def encode(value: Opaque) -> str:
        if value.text.startswith("fail"):
            raise ValueError(f"cannot encode {value.text}")
        return value.text

    def decode(data: str) -> Opaque:
        if fail_decode:
            raise ValueError(f"cannot decode {data}")
        return Opaque(data)

    codec.register_type(Opaque, "app:Opaque", encode=encode, decode=decode)
    return codec


@pytest.fixture
def registry() -> VarRegistry:
    registry = VarRegistry()
    registry.register(probe_vars.REQUEST_ID, "app:request_id")
    registry.register(probe_vars.AUTH_TOKEN, "app:auth_token", secret=True)
    return registry


class Exposure:
    """Everything a user could see: warnings, log records and raised errors (with tracebacks)."""

    def __init__(self, caught: list[warnings.WarningMessage], caplog: pytest.LogCaptureFixture):
        self._caught = caught
        self._caplog = caplog
        self._texts: list[str] = []

    def append(self, text: str) -> None:
        self._texts.append(text)

    def texts(self) -> list[str]:
        return [
            *self._texts,
            *(str(w.message) for w in self._caught),
            *(record.getMessage() for record in self._caplog.records),
        ]

    def __iter__(self):
        return iter(self.texts())


@pytest.fixture
def seen(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exposure = Exposure(caught, caplog)
        yield exposure
    joined = "\n".join(exposure.texts())
    assert joined, "the test saw nothing"
    assert SECRET not in joined


def _raises(texts: Exposure, fn, *args, **kwargs) -> SnapshotError:
    with pytest.raises(SnapshotError) as info:
        fn(*args, **kwargs)
    texts.append(str(info.value))
    texts.append("".join(traceback.format_exception(info.value)))
    return info.value


def _context(token: object) -> contextvars.Context:
    context = contextvars.Context()
    context.run(probe_vars.REQUEST_ID.set, "r-1")
    context.run(probe_vars.AUTH_TOKEN.set, token)
    return context


def test_reprs_hold_ids_not_values(registry, seen):
    serializer = SnapshotSerializer(registry)
    snapshot = serializer.loads("t", serializer.dumps("t", _context(SECRET)))
    for text in (repr(snapshot), str(snapshot), repr(registry), repr(serializer)):
        seen.append(text)
    assert "app:auth_token (secret)" in repr(snapshot)
    assert snapshot.run(probe_vars.AUTH_TOKEN.get) == SECRET  # it did travel


def test_strict_s2_error_withholds_the_encoders_message(registry, seen):
    serializer = SnapshotSerializer(registry, codec=_codec())
    error = _raises(seen, serializer.dumps, "t", _context(Opaque("fail-" + SECRET)))
    assert "'app:auth_token'" in str(error)
    assert "withheld" in str(error)


def test_a_non_secret_var_keeps_the_encoders_message(registry):
    serializer = SnapshotSerializer(registry, codec=_codec())
    context = _context("fine")
    context.run(probe_vars.REQUEST_ID.set, Opaque("fail-visible"))
    with pytest.raises(SnapshotError, match="cannot encode fail-visible"):
        serializer.dumps("t", context)


def test_lenient_s2_warning_withholds_the_pickle_message(registry, seen):
    serializer = SnapshotSerializer(
        registry, codec=CloudpickleCodec(), signing_key=KEY, lenient=True
    )
    serializer.dumps("t", _context(Opaque("fail-" + SECRET)))
    assert any("'app:auth_token'" in text for text in seen)


def test_unpicklable_secret_in_strict_mode(registry, seen):
    serializer = SnapshotSerializer(registry, codec=CloudpickleCodec(), signing_key=KEY)
    _raises(seen, serializer.dumps, "t", _context(Opaque("fail-" + SECRET)))


def test_malformed_warning_withholds_the_decoders_message(registry, seen):
    record = SnapshotSerializer(registry, codec=_codec()).dumps("t", _context(Opaque(SECRET)))
    SnapshotSerializer(registry, codec=_codec(fail_decode=True)).loads("t", record)
    assert any("task 't' is malformed" in text for text in seen)


def test_rejections_and_their_log_lines_hold_no_value(registry, seen):
    serializer = SnapshotSerializer(registry, signing_key=KEY)
    record = serializer.dumps("t", _context(SECRET))
    tampered = record.replace(b"r-1", b"r-2")
    _raises(seen, serializer.loads, "t", tampered)
    _raises(seen, serializer.loads, "other", record)
    _raises(seen, SnapshotSerializer(registry).loads, "t", record)
    _raises(seen, SnapshotSerializer(registry, max_bytes=40).loads, "t", record)
    assert any("S4" in text for text in seen)


def test_too_large_error_names_the_var_not_the_value(registry, seen):
    serializer = SnapshotSerializer(registry, max_bytes=200)
    error = _raises(seen, serializer.dumps, "t", _context(SECRET * 20))
    assert "'app:auth_token'" in str(error)


def test_unknown_var_messages_hold_no_value(registry, seen):
    record = SnapshotSerializer(registry).dumps("t", _context(SECRET))
    worker = VarRegistry()
    _raises(seen, SnapshotSerializer(worker).loads, "t", record)
    SnapshotSerializer(worker, lenient=True).loads("t", record)


def test_lifecycle_through_a_store_logs_no_value(registry, seen, clock):
    snapshots = TaskSnapshots(SnapshotSerializer(registry), MemoryStore(clock=clock), ttl=1)
    snapshots.submit("t", _context(SECRET))
    assert snapshots.run("t", probe_vars.AUTH_TOKEN.get) == SECRET
    _raises(seen, snapshots.submit, "t", _context(SECRET))
    clock.advance(5)
    snapshots.restore("t")
    _raises(seen, snapshots.restore, "t", required=True)
    seen.append(repr(snapshots))


def test_lock_repr_of_a_secret_is_not_in_the_error(registry, seen):
    lock = threading.Lock()
    _raises(seen, SnapshotSerializer(registry).dumps, "t", _context(lock))
    assert repr(lock) not in "\n".join(seen.texts())


def test_the_seen_fixture_would_catch_a_leak(registry):
    """The control: a warning holding the value is what the fixture fails on."""
    with pytest.warns(SnapshotWarning, match=SECRET):
        warnings.warn(f"leak {SECRET}", SnapshotWarning, stacklevel=1)
