"""Faults of the Redis queue, each with nothing lost (issue 8, Deliver 5)."""

from __future__ import annotations

import os
import pickle
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from queue_helpers import RUN_PROBE, QueueFactory, probe_config, stored_keys
from tcp_proxy import CuttableProxy

from ctxprop_conformance import probes
from ctxprop_conformance.gates import GateOwner, SignalOwner
from ctxprop_conformance.observations import undescribe
from ctxprop_reference.redis_queue import (
    QueueUnavailableError,
    RedisTaskQueue,
    TaskCancelledError,
    TaskLostError,
)
from ctxprop_reference.snapshot import SnapshotRejectedError, SnapshotUnavailableError

READ = probes.task_name(probes.task_read)
FIRE_THEN_READ = "queue_tasks:fire_then_read"


@pytest.fixture
def proxy(redis_url: str) -> Iterator[CuttableProxy]:
    parts = urlsplit(redis_url)
    with CuttableProxy((parts.hostname or "127.0.0.1", parts.port or 6379)) as proxy:
        yield proxy


@pytest.fixture
def gate() -> Iterator[GateOwner]:
    owner = GateOwner("queue test: task held", 10.0)
    yield owner
    owner.close()


@pytest.fixture
def started() -> Iterator[SignalOwner]:
    owner = SignalOwner("queue test: task started", 10.0)
    yield owner
    owner.close()


def test_unreachable_redis_at_submit_names_host_and_port() -> None:
    with socket.socket() as held:  # bound, never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        queue = RedisTaskQueue(probe_config(f"redis://:hunter2@127.0.0.1:{port}/0"))
        with pytest.raises(QueueUnavailableError, match=f"127.0.0.1:{port}") as err:
            queue.submit(RUN_PROBE, READ, ["V"])
        queue.close()
    assert "hunter2" not in str(err.value)
    assert "hunter2" not in repr(queue)
    assert "hunter2" not in repr(queue.config)


def test_connection_lost_before_exec_writes_nothing(redis_url: str, proxy: CuttableProxy) -> None:
    queue = RedisTaskQueue(probe_config(proxy.url))
    proxy.cut_before(b"EXEC")  # the task record and snapshot are sent, EXEC never arrives
    probes.V.set("a")
    with pytest.raises(QueueUnavailableError, match=f"127.0.0.1:{proxy.port}"):
        queue.submit(RUN_PROBE, READ, ["V"])
    queue.close()
    assert stored_keys(redis_url, queue.config.key("*")) == []


def test_connection_lost_while_a_task_runs_keeps_its_result(
    redis_url: str, make_queue: QueueFactory, proxy: CuttableProxy,
    gate: GateOwner, started: SignalOwner,
) -> None:  # fmt: skip
    queue, _ = make_queue(redis_url, workers=1, worker_url=proxy.url)
    probes.V.set("a")
    handle = queue.submit(FIRE_THEN_READ, started.address, gate.address, ["V"])
    started.wait(10)
    proxy.cut()  # the worker loses Redis while its task runs
    gate.open()
    assert proxy.refused.wait(10), "the worker tried to reach Redis again"
    proxy.restore()
    assert undescribe(queue.result(handle, 10))["seen"] == {"V": "a"}


@pytest.mark.parametrize("fault", ["missing", "expired", "malformed"])
def test_bad_snapshot_runs_empty_with_a_warning_naming_the_task(
    redis_url: str, make_queue: QueueFactory, fault: str
) -> None:
    queue, _ = make_queue(redis_url, workers=1)
    probes.V.set("a")
    handle = queue.submit_with_fault(fault, None, RUN_PROBE, READ, ["V"])
    assert undescribe(queue.result(handle, 10)) == {"V": probes.UNSET}
    assert [w for w in queue.snapshot_warnings() if handle.task_id in w]
    assert undescribe(queue.result(queue.submit(RUN_PROBE, READ, ["V"]), 10)) == {"V": "a"}


def test_required_snapshot_fails_closed(redis_url: str, make_queue: QueueFactory) -> None:
    queue, _ = make_queue(redis_url, workers=1, snapshot_required=True)
    probes.V.set("a")
    handle = queue.submit_with_fault("missing", None, RUN_PROBE, READ, ["V"])
    with pytest.raises(SnapshotUnavailableError, match=handle.task_id):
        queue.result(handle, 10)


class _MakesDirectory:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (self.path,)


@pytest.mark.parametrize("fault", ["tampered", "foreign"])
def test_tampered_or_foreign_snapshot_is_rejected_and_runs_nothing(
    redis_url: str, make_queue: QueueFactory, fault: str, tmp_path: Path
) -> None:
    queue, _ = make_queue(redis_url, workers=1)
    marker = tmp_path / "payload-ran"
    payload = pickle.dumps(_MakesDirectory(str(marker))) if fault == "foreign" else None
    probes.V.set("a")
    handle = queue.submit_with_fault(fault, payload, RUN_PROBE, READ, ["V"])
    with pytest.raises(SnapshotRejectedError, match="nothing in it was run"):
        queue.result(handle, 10)
    assert not marker.exists()
    assert undescribe(queue.result(queue.submit(RUN_PROBE, READ, ["V"]), 10)) == {"V": "a"}


def _holder(url: str, queue: RedisTaskQueue, worker_ids: list[str], task_id: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        for index, wid in enumerate(worker_ids):
            if task_id.encode() in client.lrange(queue.config.key("processing", wid), 0, -1):
                return index
    finally:
        client.close()
    raise AssertionError(f"no worker holds task {task_id}")


def test_killed_worker_task_is_redelivered_with_its_snapshot(
    redis_url: str, make_queue: QueueFactory, gate: GateOwner, started: SignalOwner
) -> None:
    queue, pool = make_queue(redis_url, workers=2, heartbeat_ttl=0.5)
    probes.V.set("a")
    handle = queue.submit(FIRE_THEN_READ, started.address, gate.address, ["V"])
    started.wait(10)
    victim = pool.pids[_holder(redis_url, queue, pool.worker_ids, handle.task_id)]
    os.kill(victim, signal.SIGKILL)
    gate.open()
    seen = undescribe(queue.result(handle, 10))
    assert seen["seen"] == {"V": "a"}
    assert seen["pid"] != victim
    client = redis.Redis.from_url(redis_url)
    assert client.hget(queue.config.key("task", handle.task_id), "deliveries") == b"2"
    client.close()


def test_killed_worker_task_past_max_deliveries_is_reported_failed(
    redis_url: str, make_queue: QueueFactory, gate: GateOwner, started: SignalOwner
) -> None:
    queue, pool = make_queue(redis_url, workers=2, heartbeat_ttl=0.5, max_deliveries=1)
    handle = queue.submit(FIRE_THEN_READ, started.address, gate.address, ["V"])
    started.wait(10)
    os.kill(pool.pids[_holder(redis_url, queue, pool.worker_ids, handle.task_id)], signal.SIGKILL)
    with pytest.raises(TaskLostError, match=f"task {handle.task_id} .*max_deliveries=1"):
        queue.result(handle, 10)


def test_cancel_stops_a_running_task_and_the_worker_goes_on(
    redis_url: str, make_queue: QueueFactory, gate: GateOwner, started: SignalOwner
) -> None:
    queue, pool = make_queue(redis_url, workers=1)
    probes.V.set("a")
    running = queue.submit(FIRE_THEN_READ, started.address, gate.address, ["V"])
    queued = queue.submit(RUN_PROBE, READ, ["V"])
    started.wait(10)
    assert queue.cancel(queued, 10) is True  # still queued: it never runs
    assert queue.cancel(running, 10) is True  # running: interrupted in its gate wait
    for handle, when in ((queued, "was cancelled$"), (running, "was cancelled while it ran")):
        with pytest.raises(TaskCancelledError, match=f"task {handle.task_id} {when}"):
            queue.result(handle, 10)
    pids = pool.pids
    finished = queue.submit(RUN_PROBE, READ, ["V"])
    assert undescribe(queue.result(finished, 10)) == {"V": "a"}
    assert pool.pids == pids
    assert queue.cancel(finished, 10) is False
