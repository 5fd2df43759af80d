"""The fault rules: S2 (unserializable), S3 (missing/expired/malformed), S4 (tampered,
foreign, hostile pickle), S6 (unknown var), format versions and the size limit."""

from __future__ import annotations

import contextvars
import json
import pickle
import socket
import threading

import pytest
import snapshot_probe_vars as probe_vars

from ctxprop_reference.snapshot import (
    CloudpickleCodec,
    MemoryStore,
    SnapshotRejectedError,
    SnapshotSerializer,
    SnapshotTooLargeError,
    SnapshotUnavailableError,
    SnapshotValueError,
    SnapshotVersionError,
    SnapshotWarning,
    TaskSnapshots,
    UnknownVarError,
    VarRegistry,
)

KEY = b"faults-tests-signing-key-32bytes"
OTHER_KEY = b"another-signing-key-of-32-bytes!"


@pytest.fixture
def registry() -> VarRegistry:
    registry = VarRegistry()
    registry.register(probe_vars.REQUEST_ID, "app:request_id")
    registry.register(probe_vars.PAYLOAD, "app:payload")
    return registry


@pytest.fixture(autouse=True)
def _no_payload_ran():
    probe_vars.PAYLOAD_RAN.clear()
    yield
    assert probe_vars.PAYLOAD_RAN == [], "code from a payload ran"


def _context(**values: object) -> contextvars.Context:
    context = contextvars.Context()
    context.run(probe_vars.REQUEST_ID.set, "r-1")
    for name, value in values.items():
        context.run(getattr(probe_vars, name.upper()).set, value)
    return context


# -- S2 -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [threading.Lock, socket.socket], ids=["lock", "socket"])
def test_s2_strict_an_unserializable_value_is_an_error_naming_the_var(registry, make, clock):
    value = make()
    store = MemoryStore(clock=clock)
    snapshots = TaskSnapshots(SnapshotSerializer(registry), store)
    try:
        with pytest.raises(
            SnapshotValueError, match=r"task 'job-1' not submitted.*'app:payload'"
        ) as info:
            snapshots.submit("job-1", _context(payload=value))
    finally:
        if isinstance(value, socket.socket):
            value.close()
    assert info.value.var_id == "app:payload"
    assert len(store) == 0, "nothing half-written"


def test_s2_strict_with_cloudpickle_names_the_var(registry):
    serializer = SnapshotSerializer(registry, codec=CloudpickleCodec(), signing_key=KEY)
    with pytest.raises(SnapshotValueError, match=r"'app:payload' holds a lock value.*TypeError"):
        serializer.dumps("job-1", _context(payload=threading.Lock()))


@pytest.mark.parametrize("codec", [None, CloudpickleCodec()], ids=["json", "cloudpickle"])
def test_s2_lenient_warns_naming_the_var_and_ships_the_rest(registry, codec):
    serializer = SnapshotSerializer(registry, codec=codec, signing_key=KEY, lenient=True)
    with pytest.warns(SnapshotWarning, match=r"task 'job-1': var 'app:payload' .* left out"):
        record = serializer.dumps("job-1", _context(payload=threading.Lock()))
    snapshot = serializer.loads("job-1", record)
    assert snapshot.var_ids == ("app:request_id",)


def test_s2_a_failing_user_encoder_names_the_var(registry):
    from ctxprop_reference.snapshot import JsonCodec

    codec = JsonCodec()
    codec.register_type(probe_vars.Money, "app:Money", encode=lambda m: 1 / 0, decode=lambda d: d)
    with pytest.raises(SnapshotValueError, match=r"'app:payload'.*ZeroDivisionError"):
        SnapshotSerializer(registry, codec=codec).dumps(
            "t", _context(payload=probe_vars.Money(1, "EUR"))
        )


@pytest.mark.parametrize("value", [10**5000, [10**5000]], ids=["top level", "nested"])
def test_s2_an_int_json_cannot_write_names_the_var(registry, value):
    with pytest.raises(SnapshotValueError, match=r"'app:payload'.*digits"):
        SnapshotSerializer(registry).dumps("t", _context(payload=value))


def test_s2_a_cyclic_value_names_the_var(registry):
    cycle: list[object] = [1.5]
    cycle.append(cycle)
    with pytest.raises(SnapshotValueError, match=r"'app:payload'.*cyclic"):
        SnapshotSerializer(registry).dumps("t", _context(payload=cycle))


# -- S3 -----------------------------------------------------------------------------


def test_s3_missing_snapshot_runs_in_an_empty_context_with_a_warning(registry, memory_store):
    snapshots = TaskSnapshots(SnapshotSerializer(registry), memory_store)
    with pytest.warns(SnapshotWarning, match=r"task 'job-9' is missing or expired.*empty context"):
        context = snapshots.restore("job-9")
    assert list(context) == []


def test_s3_expired_snapshot_is_missing(registry, memory_store, clock):
    snapshots = TaskSnapshots(SnapshotSerializer(registry), memory_store, ttl=30)
    snapshots.submit("job-1", _context())
    clock.advance(29.9)
    assert snapshots.run("job-1", probe_vars.REQUEST_ID.get) == "r-1"
    clock.advance(0.2)
    with pytest.warns(SnapshotWarning, match="'job-1' is missing or expired"):
        assert snapshots.run("job-1", probe_vars.REQUEST_ID.get, "unset") == "unset"


MALFORMED = {
    "truncated body": lambda r: r[:-5],
    "body not json": lambda r: r.split(b"\n", 1)[0] + b"\n{not json",
    "body not an object": lambda r: r.split(b"\n", 1)[0] + b"\n[1, 2]",
    "bad tag": lambda r: (
        r.split(b"\n", 1)[0]
        + b'\n{"v":{"app:payload":{"$type":"nope","$value":1}},"t":["app:payload"]}'
    ),
    "bad bytes": lambda r: (
        r.split(b"\n", 1)[0]
        + b'\n{"v":{"app:payload":{"$type":"bytes","$value":"!!"}},"t":["app:payload"]}'
    ),
    "no header end": lambda r: r.replace(b"\n", b" ") + b" " * 600,
    "header fields": lambda r: r.replace(b" -\n", b" - extra\n", 1),
    "bad version": lambda r: r.replace(b"snapshot/2", b"snapshot/x", 1),
    "version zero": lambda r: r.replace(b"snapshot/2", b"snapshot/0", 1),
    "empty": lambda r: b"ctxprop-snapshot/",
    "deeply nested": lambda r: (
        r.split(b"\n", 1)[0] + b'\n{"v":{"app:payload":' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    ),
    "deeply nested version 1": lambda r: b'{"ctxprop_snapshot": 1, "vars": ' + b"[" * 100_000,
    "truncated version 1": lambda r: b'{"ctxprop_snapshot": 1, "vars": {',
}


@pytest.mark.parametrize("damage", sorted(MALFORMED))
def test_s3_malformed_snapshot_warns_naming_the_task_and_the_worker_survives(registry, damage):
    serializer = SnapshotSerializer(registry)
    record = MALFORMED[damage](serializer.dumps("job-1", _context(payload=b"x")))
    with pytest.warns(SnapshotWarning, match=r"task 'job-1' is malformed.*empty context"):
        snapshot = serializer.loads("job-1", record)
    assert snapshot.var_ids == ()
    # the next task is served normally
    good = serializer.dumps("job-2", _context())
    assert serializer.loads("job-2", good).run(probe_vars.REQUEST_ID.get) == "r-1"


@pytest.mark.parametrize("damage", ["missing", "expired", "malformed"])
def test_s3_required_snapshot_fails_closed(registry, memory_store, clock, damage):
    snapshots = TaskSnapshots(SnapshotSerializer(registry), memory_store, ttl=1)
    if damage != "missing":
        snapshots.submit("job-1", _context())
    if damage == "expired":
        clock.advance(2)
    if damage == "malformed":
        memory_store.delete(snapshots.key("job-1"))
        memory_store.add(snapshots.key("job-1"), b"ctxprop-snapshot/2 json job-1 -\n{", 1000)
    with pytest.raises(
        SnapshotUnavailableError, match=r"task 'job-1'.*required.*fail closed"
    ) as info:
        snapshots.restore("job-1", required=True)
    assert info.value.task_id == "job-1"


# -- S4 -----------------------------------------------------------------------------


def _flip(record: bytes, index: int) -> bytes:
    return record[:index] + bytes([record[index] ^ 0x01]) + record[index + 1 :]


@pytest.mark.parametrize("where", ["body", "last byte", "task id", "codec", "signature"])
def test_s4_a_flipped_byte_in_a_signed_record_is_rejected(registry, where):
    serializer = SnapshotSerializer(registry, signing_key=KEY)
    record = serializer.dumps("job-1", _context(payload={"role": "user"}))
    header_end = record.index(b"\n")
    index = {
        "body": header_end + 5,
        "last byte": len(record) - 1,
        "task id": record.index(b"job-1") + 4,
        "codec": record.index(b"json"),
        "signature": header_end - 1,
    }[where]
    with pytest.raises(
        SnapshotRejectedError, match=r"rejected the snapshot of task 'job-1' \(S4\)"
    ):
        serializer.loads("job-1", _flip(record, index))


def test_s4_wrong_key_is_rejected_and_a_previous_key_is_accepted(registry):
    old = SnapshotSerializer(registry, signing_key=OTHER_KEY)
    record = old.dumps("job-1", _context())
    with pytest.raises(SnapshotRejectedError, match="signature does not match"):
        SnapshotSerializer(registry, signing_key=KEY).loads("job-1", record)
    rotated = SnapshotSerializer(registry, signing_key=KEY, previous_keys=[OTHER_KEY])
    assert rotated.loads("job-1", record).var_ids == ("app:request_id",)


def test_s4_unsigned_record_is_rejected_where_signing_is_on(registry):
    record = SnapshotSerializer(registry).dumps("job-1", _context())
    with pytest.raises(SnapshotRejectedError, match="unsigned"):
        SnapshotSerializer(registry, signing_key=KEY).loads("job-1", record)


def test_s4_signed_record_without_a_key_to_check_it_is_rejected(registry):
    record = SnapshotSerializer(registry, signing_key=KEY).dumps("job-1", _context())
    with pytest.raises(SnapshotRejectedError, match="no signing_key"):
        SnapshotSerializer(registry).loads("job-1", record)


def test_s4_another_tasks_record_is_rejected(registry):
    serializer = SnapshotSerializer(registry, signing_key=KEY)
    record = serializer.dumps("job-1", _context())
    with pytest.raises(SnapshotRejectedError, match="record of task 'job-1'"):
        serializer.loads("job-2", record)
    unsigned = SnapshotSerializer(registry)
    with pytest.raises(SnapshotRejectedError, match="record of task 'job-1'"):
        unsigned.loads("job-2", unsigned.dumps("job-1", _context()))


@pytest.mark.parametrize(
    "payload",
    [b"hello", b'{"some": "json"}', b"\x00\x01", "a str", b"CTXPROP-SNAPSHOT/2 json t -\n{}"],
    ids=["text", "other json", "binary", "not bytes", "case"],
)
def test_s4_a_foreign_payload_is_rejected(registry, payload):
    with pytest.raises(SnapshotRejectedError, match="foreign payload"):
        SnapshotSerializer(registry).loads("job-1", payload)


def _hostile_pickle() -> bytes:
    return pickle.dumps({"app:payload": probe_vars.Hostile()})


@pytest.mark.parametrize("signing", [False, True], ids=["json-only worker", "cloudpickle worker"])
def test_s4_a_raw_hostile_pickle_is_rejected_and_never_runs(registry, signing):
    kwargs = {"codec": CloudpickleCodec(), "signing_key": KEY} if signing else {}
    with pytest.raises(SnapshotRejectedError, match="foreign payload"):
        SnapshotSerializer(registry, **kwargs).loads("job-1", _hostile_pickle())


def test_s4_a_hostile_pickle_in_a_ctxprop_envelope_never_runs(registry):
    body = _hostile_pickle()
    unsigned = b"ctxprop-snapshot/2 cloudpickle job-1 -\n" + body
    worker = SnapshotSerializer(registry, codec=CloudpickleCodec(), signing_key=KEY)
    with pytest.raises(SnapshotRejectedError, match="unsigned"):
        worker.loads("job-1", unsigned)
    attacker = SnapshotSerializer(registry, codec=CloudpickleCodec(), signing_key=OTHER_KEY)
    forged = attacker._codec._encode_vars({"app:payload": probe_vars.Hostile()})[0]
    from ctxprop_reference.snapshot_envelope import build

    with pytest.raises(SnapshotRejectedError, match="signature does not match"):
        worker.loads("job-1", build("cloudpickle", "job-1", forged, OTHER_KEY))
    with pytest.raises(SnapshotRejectedError, match="not opted in to cloudpickle"):
        SnapshotSerializer(registry).loads("job-1", unsigned)
    with pytest.raises(SnapshotRejectedError, match="not opted in to cloudpickle"):
        SnapshotSerializer(registry, signing_key=KEY).loads(
            "job-1", build("cloudpickle", "job-1", body, KEY)
        )


def test_s4_a_signed_pickle_from_a_trusted_writer_does_run(registry):
    """The control for the tests above: the same payload, properly signed, is unpickled."""
    from ctxprop_reference.snapshot_envelope import build

    worker = SnapshotSerializer(registry, codec=CloudpickleCodec(), signing_key=KEY)
    worker.loads("job-1", build("cloudpickle", "job-1", _hostile_pickle(), KEY))
    assert probe_vars.PAYLOAD_RAN == ["the payload ran"]
    probe_vars.PAYLOAD_RAN.clear()


def test_s4_unknown_codec_is_rejected(registry):
    with pytest.raises(SnapshotRejectedError, match="unknown codec 'yaml'"):
        SnapshotSerializer(registry).loads("job-1", b"ctxprop-snapshot/2 yaml job-1 -\na: 1")


# -- versions -----------------------------------------------------------------------


def test_version_1_records_are_read(registry):
    record = json.dumps(
        {
            "ctxprop_snapshot": 1,
            "vars": {"app:payload": {"$type": "tuple", "$value": [1, 2]}, "app:request_id": "r-0"},
        }
    ).encode()
    context = SnapshotSerializer(registry).loads("job-1", record).restore()
    assert context[probe_vars.PAYLOAD] == (1, 2)
    assert context[probe_vars.REQUEST_ID] == "r-0"


def test_version_1_records_are_unsigned_so_refused_where_signing_is_on(registry):
    record = b'{"ctxprop_snapshot": 1, "vars": {}}'
    with pytest.raises(SnapshotRejectedError, match="unsigned"):
        SnapshotSerializer(registry, signing_key=KEY).loads("job-1", record)


@pytest.mark.parametrize(
    "record",
    [
        b"ctxprop-snapshot/3 json job-1 -\n{}",
        b"ctxprop-snapshot/12 msgpack job-1 whatever\n\x00",
        b'{"ctxprop_snapshot": 3}',
    ],
)
def test_a_newer_version_is_rejected_with_a_clear_error(registry, record):
    with pytest.raises(
        SnapshotVersionError,
        match=(
            r"task 'job-1' is in format version \d+, newer than this ctxprop_reference reads "
            r"\(versions 1-2\); upgrade"
        ),
    ):
        SnapshotSerializer(registry).loads("job-1", record)


# -- size ---------------------------------------------------------------------------


def test_size_limit_at_submit_names_the_limit_and_the_largest_vars(registry):
    serializer = SnapshotSerializer(registry, max_bytes=300)
    with pytest.raises(
        SnapshotTooLargeError,
        match=(
            r"task 'job-1' is \d+ bytes, over max_bytes=300; "
            r"largest vars: 'app:payload' \(\d+ bytes\)"
        ),
    ):
        serializer.dumps("job-1", _context(payload="x" * 400))


def test_size_limit_at_load(registry):
    record = SnapshotSerializer(registry).dumps("job-1", _context(payload="x" * 400))
    with pytest.raises(SnapshotRejectedError, match="over max_bytes=100"):
        SnapshotSerializer(registry, max_bytes=100).loads("job-1", record)


# -- S6 -----------------------------------------------------------------------------


def test_s6_a_var_the_worker_has_not_registered_is_an_error_naming_it(registry):
    record = SnapshotSerializer(registry).dumps("job-1", _context(payload=1))
    worker_registry = VarRegistry()
    worker_registry.register(probe_vars.REQUEST_ID, "app:request_id")
    with pytest.raises(
        UnknownVarError, match=r"task 'job-1' carries var 'app:payload'.*not registered"
    ) as info:
        SnapshotSerializer(worker_registry).loads("job-1", record)
    assert info.value.var_id == "app:payload"


def test_s6_lenient_warns_naming_the_var_and_restores_the_rest(registry):
    record = SnapshotSerializer(registry).dumps("job-1", _context(payload=1))
    worker_registry = VarRegistry()
    worker_registry.register(probe_vars.REQUEST_ID, "app:request_id")
    with pytest.warns(SnapshotWarning, match="'app:payload', which is not registered"):
        snapshot = SnapshotSerializer(worker_registry, lenient=True).loads("job-1", record)
    assert snapshot.run(probe_vars.REQUEST_ID.get) == "r-1"


# -- argument checks ----------------------------------------------------------------


@pytest.mark.parametrize("task_id", ["", "has space", "new\nline", "x" * 201, 7])
def test_task_ids_that_do_not_fit_a_header_are_refused(registry, task_id):
    serializer = SnapshotSerializer(registry)
    with pytest.raises(ValueError, match="task id"):
        serializer.dumps(task_id)
    with pytest.raises(ValueError, match="task id"):
        serializer.loads(task_id, b"ctxprop-snapshot/2 json a -\nX -\n{}")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"signing_key": b"short"}, "at least 16 bytes"),
        ({"signing_key": "a str key of enough length"}, "at least 16 bytes"),
        ({"previous_keys": [KEY]}, "need a signing_key"),
        ({"max_bytes": 0}, "max_bytes"),
    ],
)
def test_bad_configuration_is_refused(registry, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SnapshotSerializer(registry, **kwargs)
