"""What the queue tests share: the tasks workers register and a config for the probe vars."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ctxprop_conformance import probes
from ctxprop_reference.redis_queue import QueueConfig, RedisTaskQueue, qualified_name
from ctxprop_reference.redis_queue_pool import WorkerPool
from ctxprop_reference.snapshot import VarRegistry

RUN_PROBE = probes.task_name(probes.run_probe)
TASKS = (RUN_PROBE, "queue_tasks:fire_then_read", "queue_tasks:helper_reads", "json:loads")

#: ``make_queue(url, workers=2, launcher=..., worker_url=..., **config)``
QueueFactory = Callable[..., tuple[RedisTaskQueue, WorkerPool]]


def probe_config(url: str, **overrides: Any) -> QueueConfig:
    """A config for the probe vars and this folder's tasks, signed, on its own queue."""
    registry = VarRegistry()
    for var in (probes.V, probes.W, probes.D):
        registry.register_importable(var.name)
    settings: dict[str, Any] = {
        "url": url,
        "queue": uuid.uuid4().hex[:10],
        "prefix": "ctxprop:test",
        "tasks": TASKS,
        "var_specs": registry.specs(),
        "dataclasses": (qualified_name(probes.Record),),
        "signing_key": secrets.token_bytes(32),
    } | overrides
    return QueueConfig(**settings)


def with_url(config: QueueConfig, url: str) -> QueueConfig:
    """The same queue, reached through another URL (e.g. a proxy that can be cut)."""
    return replace(config, url=url)


def stored_keys(url: str, pattern: str) -> list[bytes]:
    """The keys matching ``pattern``, sorted (what a queue left in Redis)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sorted(client.keys(pattern))
    finally:
        client.close()
