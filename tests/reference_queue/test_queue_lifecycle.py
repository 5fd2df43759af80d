"""Worker processes: both launchers, worker_init by name, every worker stopped and reaped."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from queue_helpers import RUN_PROBE, QueueFactory, probe_config

from ctxprop_conformance import probes
from ctxprop_conformance.gates import GateOwner, SignalOwner
from ctxprop_conformance.observations import undescribe
from ctxprop_reference.redis_queue import RedisTaskQueue
from ctxprop_reference.redis_queue_pool import WorkerPool, WorkerStartError

READ = probes.task_name(probes.task_read)


def _gone(pid: int) -> bool:
    """No process (not even a zombie) has this pid any more."""
    return not os.path.exists(f"/proc/{pid}")


@pytest.fixture
def started() -> Iterator[SignalOwner]:
    owner = SignalOwner("lifecycle test: task started", 10.0)
    yield owner
    owner.close()


@pytest.mark.parametrize("launcher", ["forkserver", "subprocess"])
def test_workers_are_separate_processes_and_stop_reaps_them(
    redis_url: str, make_queue: QueueFactory, launcher: str
) -> None:
    # a subprocess worker imports only installed modules: not this folder's queue_tasks
    queue, pool = make_queue(redis_url, workers=2, launcher=launcher, tasks=(RUN_PROBE,))
    pids = pool.pids
    assert len(set(pids)) == 2
    assert os.getpid() not in pids
    probes.V.set("a")
    handles = [queue.submit(RUN_PROBE, READ, ["V"]) for _ in range(20)]
    assert [undescribe(queue.result(h, 10)) for h in handles] == [{"V": "a"}] * 20
    pool.stop()
    assert [pid for pid in pids if not _gone(pid)] == []
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.smembers(queue.config.key("workers")) == set()
        assert client.keys(queue.config.key("heartbeat", "*")) == []
    finally:
        client.close()


def test_stop_kills_a_stuck_worker_and_hands_its_task_back(
    redis_url: str, make_queue: QueueFactory, started: SignalOwner
) -> None:
    queue, pool = make_queue(redis_url, workers=1)
    gate = GateOwner("lifecycle test: never opened", 30.0)
    try:
        handle = queue.submit("queue_tasks:fire_then_read", started.address, gate.address, [])
        started.wait(10)
        pids = pool.pids
        pool.stop(timeout=0.5)  # the task never finishes: SIGTERM is not enough
        assert [pid for pid in pids if not _gone(pid)] == []
    finally:
        gate.close()
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.lrange(queue.config.key("queue"), 0, -1) == [handle.task_id.encode()]
    finally:
        client.close()


def test_worker_init_runs_in_each_worker_by_name(redis_url: str) -> None:
    config = probe_config(redis_url)
    queue = RedisTaskQueue(config)
    pool = WorkerPool(config, 1, worker_init="ctxprop_conformance.probes:set_ambient")
    pool.start()
    try:
        probes.V.set("a")
        seen = undescribe(queue.result(queue.submit(RUN_PROBE, READ, ["V", "W"]), 10))
    finally:
        pool.stop()
        queue.close()
    assert seen == {"V": "a", "W": probes.UNSET}  # worker-start values stay out of tasks


@pytest.mark.parametrize("launcher", ["forkserver", "subprocess"])
def test_a_worker_that_fails_to_start_is_an_error_naming_it(redis_url: str, launcher: str) -> None:
    config = probe_config(redis_url, tasks=(RUN_PROBE,))
    pool = WorkerPool(config, 2, worker_init="ctxprop_conformance.probes:no_such_init",
                      launcher=launcher)  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(WorkerStartError, match="no_such_init") as err:
        pool.start()
    assert config.queue in str(err.value)
    assert pool.pids == []  # start() stopped what it had started


@pytest.mark.parametrize("backend", ["embedded", "redis-server"])
def test_adapter_stop_reaps_every_worker_and_leaves_no_keys(
    backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from ctxprop_reference.redis_queue_adapter import RedisQueueAdapter, backend_url

    if backend == "embedded":
        monkeypatch.delenv("CTXPROP_REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("CTXPROP_REDIS_URL", request.getfixturevalue("real_redis_server_url"))
    adapter = RedisQueueAdapter()
    for var in probes.REGISTERED:
        adapter.register(var)
    adapter.start(workers=3, worker_init=probes.set_ambient)
    pids = adapter.pool.pids
    try:
        assert len(pids) == 3
        probes.V.set("a")
        handle = adapter.submit(probes.task_read, ["V", "W"])
        assert undescribe(adapter.result(handle, 10)) == {"V": "a", "W": probes.UNSET}
    finally:
        adapter.stop()
    assert [pid for pid in pids if not _gone(pid)] == []
    client = redis.Redis.from_url(backend_url())
    try:
        assert client.keys(adapter.queue.config.key("*")) == []
    finally:
        client.close()
