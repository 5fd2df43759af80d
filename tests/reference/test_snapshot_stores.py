"""Stores: a TTL on every record, one record per task, fakeredis and a real redis-server,
and a record restored in another OS process."""

from __future__ import annotations

import contextvars
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import snapshot_probe_vars as probe_vars

from ctxprop_reference.snapshot import (
    MemoryStore,
    RedisStore,
    SnapshotError,
    SnapshotSerializer,
    SnapshotStore,
    SnapshotWarning,
    TaskSnapshots,
    VarRegistry,
)

HERE = Path(__file__).parent


@pytest.fixture
def serializer() -> SnapshotSerializer:
    registry = VarRegistry()
    registry.register_importable("snapshot_probe_vars:REQUEST_ID")
    registry.register_importable("snapshot_probe_vars:AUTH_TOKEN", secret=True)
    return SnapshotSerializer(registry)


def _context() -> contextvars.Context:
    context = contextvars.Context()
    context.run(probe_vars.REQUEST_ID.set, "r-1")
    context.run(probe_vars.AUTH_TOKEN.set, "token")
    return context


@pytest.fixture(params=["memory", "fakeredis", "redis-server"])
def store_and_pttl(request: pytest.FixtureRequest, memory_store: MemoryStore):
    """(store, pttl(key) in ms) for each kind of store."""
    if request.param == "memory":
        return memory_store, memory_store.pttl
    client: Any = request.getfixturevalue(
        "fake_redis_client" if request.param == "fakeredis" else "real_redis_client"
    )
    return RedisStore(client), client.pttl


def test_stores_satisfy_the_protocol(memory_store, fake_redis_client):
    assert isinstance(memory_store, SnapshotStore)
    assert isinstance(RedisStore(fake_redis_client), SnapshotStore)


def test_every_record_has_a_ttl(store_and_pttl, serializer):
    store, pttl = store_and_pttl
    snapshots = TaskSnapshots(serializer, store, ttl=90)
    for task in ("a", "b", "c"):
        snapshots.submit(task, _context())
        assert 89_000 < pttl(snapshots.key(task)) <= 90_000, task
    assert snapshots.run("b", probe_vars.REQUEST_ID.get) == "r-1"


def test_one_record_per_task(store_and_pttl, serializer):
    store, _ = store_and_pttl
    snapshots = TaskSnapshots(serializer, store)
    snapshots.submit("job-1", _context())
    other = contextvars.Context()
    other.run(probe_vars.REQUEST_ID.set, "someone else")
    with pytest.raises(SnapshotError, match="task 'job-1' is already stored"):
        snapshots.submit("job-1", other)
    assert snapshots.run("job-1", probe_vars.REQUEST_ID.get) == "r-1"


def test_discard_deletes_the_record(store_and_pttl, serializer):
    store, pttl = store_and_pttl
    snapshots = TaskSnapshots(serializer, store)
    snapshots.submit("job-1", _context())
    snapshots.discard("job-1")
    snapshots.discard("job-1")  # no error when already gone
    assert pttl(snapshots.key("job-1")) == -2
    with pytest.warns(SnapshotWarning, match="'job-1' is missing"):
        snapshots.restore("job-1")


@pytest.mark.parametrize("ttl_ms", [0, -1, 1.5, None])
def test_a_record_without_a_positive_ttl_is_refused(memory_store, fake_redis_client, ttl_ms):
    for store in (memory_store, RedisStore(fake_redis_client)):
        with pytest.raises(ValueError, match="every record needs a TTL"):
            store.add("k", b"v", ttl_ms)


def test_task_snapshots_refuses_a_non_positive_ttl(serializer, memory_store):
    with pytest.raises(ValueError, match="ttl must be positive"):
        TaskSnapshots(serializer, memory_store, ttl=0)


def test_memory_store_expires_by_its_clock(memory_store, clock):
    assert memory_store.add("k", b"v", 1000)
    assert not memory_store.add("k", b"w", 1000)
    clock.advance(1.0)
    assert memory_store.get("k") is None
    assert memory_store.pttl("k") == -2
    assert memory_store.add("k", b"w", 1000)


def test_redis_store_needs_bytes_replies():
    import fakeredis

    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    store = RedisStore(client)
    store.add("k", b"v", 1000)
    with pytest.raises(TypeError, match="decode_responses=False"):
        store.get("k")


def test_redis_store_from_url_owns_its_client(real_redis_url, serializer):
    store = RedisStore.from_url(real_redis_url)
    try:
        snapshots = TaskSnapshots(serializer, store)
        snapshots.submit("from-url", _context())
        assert snapshots.run("from-url", probe_vars.REQUEST_ID.get) == "r-1"
    finally:
        store.close()


WORKER = textwrap.dedent(
    """
    import sys
    from ctxprop_reference.snapshot import SnapshotSerializer, VarRegistry
    import snapshot_probe_vars as probe_vars

    registry = VarRegistry()
    registry.register_importable("snapshot_probe_vars:REQUEST_ID")
    registry.register_importable("snapshot_probe_vars:AUTH_TOKEN", secret=True)
    snapshot = SnapshotSerializer(registry).loads("job-x", sys.stdin.buffer.read())
    print(snapshot.run(probe_vars.REQUEST_ID.get), snapshot.run(probe_vars.AUTH_TOKEN.get))
    """
)


def test_a_record_restores_in_another_process(serializer):
    record = serializer.dumps("job-x", _context())
    result = subprocess.run(
        [sys.executable, "-c", WORKER],
        input=record,
        capture_output=True,
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": str(HERE), "PYTHONWARNINGS": "error"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split() == ["r-1", "token"]
