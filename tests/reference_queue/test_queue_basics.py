"""The Redis queue on fakeredis and on a real redis-server: context, isolation, outcomes, TTLs."""

from __future__ import annotations

import json
import re

import pytest
import redis
from queue_helpers import RUN_PROBE, QueueFactory, probe_config, stored_keys

from ctxprop_conformance import probes
from ctxprop_conformance.observations import undescribe
from ctxprop_reference.redis_queue import RedisTaskQueue, RemoteTaskError
from ctxprop_reference.redis_queue_pool import WorkerPool
from ctxprop_reference.snapshot import SnapshotValueError

READ = probes.task_name(probes.task_read)


def test_task_sees_the_submitters_context_not_the_previous_tasks(
    redis_url: str, make_queue: QueueFactory
) -> None:
    queue, _ = make_queue(redis_url, workers=1)  # one worker: every task reuses it
    probes.V.set("stale-token")
    first = queue.submit(RUN_PROBE, probes.task_name(probes.task_set_then_read), {"W": "t"}, [])
    queue.result(first, 10)
    probes.V.set("fresh")
    probes.W.set("caller-w")
    token = probes.W.set("caller-w")
    probes.W.reset(token)
    seen = queue.result(queue.submit(RUN_PROBE, READ, ["V", "W", "D"]), 10)
    assert undescribe(seen) == {"V": "fresh", "W": "caller-w", "D": "D-default"}


def test_values_keep_their_types(redis_url: str, make_queue: QueueFactory) -> None:
    queue, _ = make_queue(redis_url)
    value = {"t": (1, "two"), "b": b"\x00\xff", "f": frozenset({1}), "r": probes.Record("a", ())}
    probes.V.set(value)
    assert undescribe(queue.result(queue.submit(RUN_PROBE, READ, ["V"]), 10)) == {"V": value}


def test_probe_error_arrives_with_its_type_and_message(
    redis_url: str, make_queue: QueueFactory
) -> None:
    queue, _ = make_queue(redis_url, workers=1)
    handle = queue.submit(
        RUN_PROBE, probes.task_name(probes.task_set_then_raise), {"V": "x"}, "boom: I4"
    )
    with pytest.raises(probes.ProbeError) as raised:
        queue.result(handle, 10)
    assert str(raised.value) == "boom: I4"
    assert "remote traceback" in "".join(getattr(raised.value, "__notes__", []))
    seen = queue.result(queue.submit(RUN_PROBE, READ, ["V"]), 10)
    assert undescribe(seen) == {"V": probes.UNSET}


def test_exception_of_a_module_not_allowlisted_is_not_rebuilt(
    redis_url: str, make_queue: QueueFactory
) -> None:
    queue, _ = make_queue(redis_url, workers=1)
    with pytest.raises(RemoteTaskError, match=r"json\.decoder:JSONDecodeError: Expecting") as err:
        queue.result(queue.submit("json:loads", "{bad"), 10)
    assert err.value.remote_type == "json.decoder:JSONDecodeError"


def test_only_registered_task_names_run(redis_url: str, make_queue: QueueFactory) -> None:
    queue, _ = make_queue(redis_url, workers=1)
    with pytest.raises(LookupError, match="not registered"):
        queue.submit("os:system", "echo owned")
    with pytest.raises(LookupError, match="not a ctxprop probe task"):
        queue.result(queue.submit(RUN_PROBE, "os:system", "echo owned"), 10)


def test_unserializable_value_is_an_error_at_submit_naming_the_var(redis_url: str) -> None:
    queue = RedisTaskQueue(probe_config(redis_url))
    probes.V.set(object())
    with pytest.raises(SnapshotValueError, match=re.escape(probes.V.name)):
        queue.submit(RUN_PROBE, READ, ["V"])
    queue.close()
    assert stored_keys(redis_url, queue.config.key("*")) == []  # nothing written


def test_every_stored_key_has_a_ttl(redis_url: str) -> None:
    config = probe_config(redis_url)
    queue = RedisTaskQueue(config)
    probes.V.set("a")
    handles = [queue.submit(RUN_PROBE, READ, ["V"]) for _ in range(3)]
    client = redis.Redis.from_url(redis_url)
    try:
        stored = stored_keys(redis_url, config.key("*"))
        assert len(stored) == 7  # 3 task records, 3 snapshots, the queue
        assert [k for k in stored if client.pttl(k) <= 0] == []
        pool = WorkerPool(config, 1)
        pool.start()
        try:
            assert [undescribe(queue.result(h, 10)) for h in handles] == [{"V": "a"}] * 3
            stored = stored_keys(redis_url, config.key("*"))
            assert [k for k in stored if client.pttl(k) <= 0] == []
            assert client.keys(config.key("snapshot", "*")) == []  # dropped once run
            tombstone = client.hgetall(config.key("task", handles[0].task_id))
            assert tombstone[b"done"] == b"1"
            assert json.loads(tombstone[b"args"])[0] == READ
        finally:
            pool.stop()
    finally:
        client.close()
        queue.close()


def test_sync_helper_finds_the_tasks_value_in_the_task_and_from_a_bare_thread(
    redis_url: str, make_queue: QueueFactory
) -> None:
    queue, _ = make_queue(redis_url, workers=1)
    probes.V.set("a")
    seen = undescribe(queue.result(queue.submit("queue_tasks:helper_reads"), 10))
    assert seen["task"] == "a"
    assert seen["task, V.get()"] == "a"
    assert seen["bare thread, V.get()"] is probes.UNSET  # a bare thread has no context
    assert seen["bare thread"] == "a"  # ... but the helper finds the task's value by task id
    probes.V.set("b")
    again = undescribe(queue.result(queue.submit("queue_tasks:helper_reads"), 10))
    assert again["bare thread"] == "b"  # the reused worker serves this task's value
    assert again["task id"] != seen["task id"]
