"""A Redis-backed task queue that carries the submitter's context to worker processes.

The caller side (:class:`RedisTaskQueue`): ``submit`` writes one task record,
its context snapshot and the queue entry in one MULTI/EXEC (nothing
half-written), every key with a TTL; ``result`` waits for the task's outcome
with BLPOP.  Workers (:mod:`ctxprop_reference.redis_queue_worker`) restore each
task into a fresh Context from its snapshot.  Only JSON travels: task names
(workers run only the names they registered), arguments, results, and
exceptions as type + message, rebuilt only for allowlisted modules.  The key
layout and the acknowledgement rule are in docs/cross-process.md.
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from ctxprop_reference.redis_queue_embedded import embedded_redis_url
from ctxprop_reference.redis_queue_outcome import (
    DEFAULT_ERROR_MODULES,
    RemoteTaskError,
    TaskCancelledError,
    TaskLostError,
    encode_error,
    rebuild_error,
)
from ctxprop_reference.snapshot import JsonCodec, SnapshotSerializer, VarRegistry, VarSpec

__all__ = [
    "QueueConfig",
    "QueueUnavailableError",
    "RedisTaskQueue",
    "RemoteTaskError",
    "TaskCancelledError",
    "TaskHandle",
    "TaskLostError",
    "embedded_redis_url",
]

_CONNECT_TIMEOUT: Final = 2.0


class QueueUnavailableError(ConnectionError):
    """Redis cannot be reached: the message names host:port, never a password."""


def _where(url: str) -> str:
    """``host:port`` of a Redis URL (or the socket path), for messages."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _resolve(path: str) -> Any:
    """The object at ``module:qualname`` (trusted configuration only, never wire data)."""
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def qualified_name(obj: Any) -> str:
    """``module:qualname`` of a function or class."""
    return f"{obj.__module__}:{obj.__qualname__}"


@dataclass(frozen=True)
class QueueConfig:
    """Everything a caller and its workers must agree on; plain data, so workers get a copy.

    ``tasks``: import paths of the functions workers run (the wire names them by
    that path).  ``var_specs``: the registered vars (``VarRegistry.specs()``).
    ``dataclasses``: import paths of dataclasses the JSON codec carries.
    ``signing_key`` signs every snapshot (S4: tampering is detected); it never
    appears in a repr.  Times are seconds.
    """

    url: str
    queue: str = "default"
    prefix: str = "ctxprop:queue"
    tasks: tuple[str, ...] = ()
    var_specs: tuple[VarSpec, ...] = ()
    dataclasses: tuple[str, ...] = ()
    signing_key: bytes | None = field(default=None, repr=False)
    ttl: float = 3600.0
    heartbeat_ttl: float = 5.0
    max_deliveries: int = 2
    snapshot_required: bool = False
    error_modules: tuple[str, ...] = DEFAULT_ERROR_MODULES

    def __repr__(self) -> str:  # the URL may hold a password; the key is secret
        return (
            f"QueueConfig(redis={_where(self.url)}, queue={self.queue!r}, prefix={self.prefix!r})"
        )

    @property
    def where(self) -> str:
        return _where(self.url)

    @property
    def ttl_ms(self) -> int:
        return max(1, round(self.ttl * 1000))

    def key(self, *parts: str) -> str:
        """``prefix:queue:part:...``: every key of this queue (one prefix to scan or delete)."""
        return ":".join((self.prefix, self.queue, *parts))

    def snapshot_prefix(self) -> str:
        return self.key("snapshot") + ":"

    def serializer(self) -> SnapshotSerializer:
        """The snapshot serializer both sides build from this config (same vars, same key)."""
        codec = JsonCodec()
        for path in self.dataclasses:
            codec.register_dataclass(_resolve(path), path)
        registry = VarRegistry.from_specs(self.var_specs)
        return SnapshotSerializer(registry, codec=codec, signing_key=self.signing_key)

    def client(self, *, socket_timeout: float | None = 10.0) -> Any:
        """A redis-py client on ``url`` with bounded connects, bytes replies, no silent retries."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis.from_url(
            self.url,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=socket_timeout,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            **_no_client_setinfo(),
        )


@dataclass
class TaskHandle:
    """What ``submit`` returns: the task id; the outcome is kept once fetched."""

    task_id: str
    task: str
    _outcome: bytes | None = field(default=None, repr=False)


class RedisTaskQueue:
    """The caller side of the queue: submit tasks, wait for their outcomes, reap dead workers."""

    def __init__(
        self, config: QueueConfig, *, serializer: SnapshotSerializer | None = None
    ) -> None:
        self.config = config
        self._serializer = config.serializer() if serializer is None else serializer
        self._tasks = frozenset(config.tasks)
        # longer than any BLPOP slice of result(): half a heartbeat TTL
        self._client = config.client(socket_timeout=config.heartbeat_ttl + 10.0)
        self._queue_key = config.key("queue")

    # -- submit ---------------------------------------------------------------------------

    def submit(self, task: str, *args: Any) -> TaskHandle:
        """Enqueue ``task(*args)`` with a snapshot of the current context; never waits for it."""
        return self._submit(task, args)

    def submit_with_fault(
        self, fault: str, payload: bytes | None, task: str, *args: Any
    ) -> TaskHandle:
        """``submit``, with the stored snapshot spoiled as ``fault`` says (S3/S4 checks only)."""
        return self._submit(task, args, fault=fault, payload=payload)

    def _submit(
        self,
        task: str,
        args: tuple[Any, ...],
        fault: str | None = None,
        payload: bytes | None = None,
    ) -> TaskHandle:
        if task not in self._tasks:
            raise LookupError(f"task {task!r} is not registered with this queue")
        task_id = uuid.uuid4().hex
        body = json.dumps(args, separators=(",", ":"), allow_nan=False)  # TypeError: not JSON
        record = self._serializer.dumps(task_id)  # S2: SnapshotValueError naming the var
        cfg = self.config
        snapshot_key = cfg.snapshot_prefix() + task_id
        task_key = cfg.key("task", task_id)
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(task_key, mapping={"task": task, "args": body, "deliveries": 0})
        pipe.pexpire(task_key, cfg.ttl_ms)
        if fault != "missing":
            pipe.set(snapshot_key, _spoiled(record, fault, payload), px=cfg.ttl_ms, nx=True)
        if fault == "expired":
            pipe.pexpireat(snapshot_key, 1)  # its TTL has passed: Redis drops it now
        pipe.lpush(self._queue_key, task_id)
        pipe.pexpire(self._queue_key, cfg.ttl_ms)
        try:
            pipe.execute()
        except _connection_errors() as exc:
            raise QueueUnavailableError(
                f"cannot submit task {task!r}: Redis at {cfg.where} is unreachable "
                f"({type(exc).__name__}: {exc}); Redis did not confirm the submit, and "
                "MULTI/EXEC writes all of a task or none of it"
            ) from None
        return TaskHandle(task_id, task)

    # -- results --------------------------------------------------------------------------

    def result(self, handle: TaskHandle, timeout: float) -> Any:
        """The task's return value, or its exception raised; TimeoutError past ``timeout``."""
        if handle._outcome is None:
            handle._outcome = self._wait(handle, timeout)
        outcome = json.loads(handle._outcome)
        if "error" in outcome:
            raise rebuild_error(outcome["error"], self.config.error_modules)
        return outcome["ok"]

    def _wait(self, handle: TaskHandle, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        key = self.config.key("result", handle.task_id)
        # wait in slices no longer than half a heartbeat: a dead worker's task is reaped meanwhile
        step = max(0.05, self.config.heartbeat_ttl / 2)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"task {handle.task_id} ({handle.task}) has no result after {timeout:g}s"
                )
            try:
                reply = self._client.blpop([key], timeout=max(0.01, min(step, remaining)))
            except _connection_errors() as exc:
                raise QueueUnavailableError(
                    f"lost Redis at {self.config.where} while waiting for task {handle.task_id} "
                    f"({type(exc).__name__}); its outcome stays stored for {self.config.ttl:g}s"
                ) from None
            if reply is not None:
                return bytes(reply[1])
            self.reap_dead_workers()

    def cancel(self, handle: TaskHandle, timeout: float) -> bool:
        """Cancel the task and wait until it stopped; False if it had finished already.

        Still queued: taken off the queue, it never runs.  Running: its worker gets a
        message on its control list and interrupts the task.  Either way ``result``
        then raises TaskCancelledError.
        """
        if handle._outcome is not None:
            return False
        cfg, task_id = self.config, handle.task_id
        if self._client.lrem(self._queue_key, 1, task_id):
            handle._outcome = encode_error(TaskCancelledError(f"task {task_id} was cancelled"))
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(cfg.key("task", task_id), "done", 1)
            pipe.delete(cfg.snapshot_prefix() + task_id)
            pipe.execute()
            return True
        holder = self._holder(task_id)
        if holder is not None:
            control = cfg.key("control", holder)
            pipe = self._client.pipeline(transaction=True)
            pipe.rpush(control, json.dumps({"cancel": task_id}))
            pipe.pexpire(control, cfg.ttl_ms)
            pipe.execute()
        handle._outcome = self._wait(handle, timeout)
        return b"TaskCancelledError" in handle._outcome

    def _holder(self, task_id: str) -> str | None:
        """The worker whose processing list holds ``task_id`` (None: none does now)."""
        workers = [w.decode() for w in self._client.smembers(self.config.key("workers"))]
        pipe = self._client.pipeline(transaction=False)
        for wid in workers:
            pipe.lpos(self.config.key("processing", wid), task_id)
        found = pipe.execute()
        return next((w for w, at in zip(workers, found, strict=True) if at is not None), None)

    # -- supervision ----------------------------------------------------------------------

    def reap_dead_workers(self) -> list[str]:
        """Put the tasks of workers whose heartbeat expired back at the head of the queue.

        Each LMOVE is atomic, so two reapers never duplicate a task; a task that has
        been delivered ``max_deliveries`` times is failed by the next worker instead.
        Returns the ids of the re-queued tasks.
        """
        return reap_dead_workers(self._client, self.config)

    def snapshot_warnings(self) -> list[str]:
        """Every snapshot warning (and rejection) a worker reported, oldest first."""
        return [w.decode() for w in self._client.lrange(self.config.key("warnings"), 0, -1)]

    def purge(self) -> None:
        """Delete every key of this queue (its prefix); the TTLs cover whatever is missed."""
        keys = list(self._client.scan_iter(match=self.config.key("*"), count=500))
        if keys:
            self._client.delete(*keys)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"<RedisTaskQueue {self.config!r}>"


def _spoiled(record: bytes, fault: str | None, payload: bytes | None) -> bytes:
    """The record as stored under ``fault`` (None: unchanged)."""
    if fault in (None, "missing", "expired"):
        return record
    if fault == "malformed":  # a damaged header: not a snapshot record any more
        return b"ctxprop-snapshot/2 garbled\n" + record.partition(b"\n")[2]
    if fault == "tampered":  # one byte of the body changed: the signature no longer matches
        return record[:-1] + bytes([record[-1] ^ 0x01])
    if fault == "foreign":
        if payload is None:
            raise ValueError("the 'foreign' fault needs the payload to store")
        return payload
    raise ValueError(f"unknown snapshot fault {fault!r}")


def _no_client_setinfo() -> dict[str, Any]:
    """Options that skip CLIENT SETINFO, two round trips per new connection (redis-py 5-8)."""
    import importlib.util

    if importlib.util.find_spec("redis.driver_info") is not None:
        return {"driver_info": None}
    return {"lib_name": None, "lib_version": None}


def _connection_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.ConnectionError, redis.TimeoutError, OSError)


def reap_dead_workers(client: Any, config: QueueConfig) -> list[str]:
    """See :meth:`RedisTaskQueue.reap_dead_workers` (shared with the workers' own reaper)."""
    workers_key = config.key("workers")
    workers = [w.decode() for w in client.smembers(workers_key)]
    if not workers:
        return []
    pipe = client.pipeline(transaction=False)
    for wid in workers:
        pipe.exists(config.key("heartbeat", wid))
    alive = pipe.execute()
    requeued: list[str] = []
    queue_key = config.key("queue")
    for wid, is_alive in zip(workers, alive, strict=True):
        if is_alive:
            continue
        processing = config.key("processing", wid)
        while (task_id := client.lmove(processing, queue_key, "LEFT", "RIGHT")) is not None:
            requeued.append(task_id.decode())
        client.srem(workers_key, wid)
    return requeued


def resolve_task(path: str) -> Callable[..., Any]:
    """The function a worker registers for ``path`` (from its configuration)."""
    fn = _resolve(path)
    if not callable(fn):
        raise TypeError(f"task {path!r} is not callable")
    return fn  # type: ignore[no-any-return]
