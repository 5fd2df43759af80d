"""The worker process of the Redis queue: ``python -m ctxprop_reference.redis_queue_worker``.

Each task runs in a *fresh* Context restored from its own snapshot, never the
previous task's.  The acknowledgement rule (docs/cross-process.md): a worker
takes a task with BLMOVE from the queue to its own processing list; it writes
the outcome, marks the record done and removes the processing entry in one
MULTI/EXEC, retrying until Redis takes it.  A heartbeat key with a TTL says
the worker is alive; the tasks of a worker whose heartbeat expired are put back
on the queue (and failed once they were delivered ``max_deliveries`` times).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import inspect
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Final

from ctxprop_reference import redis_queue_context as _context
from ctxprop_reference.redis_queue import (
    QueueConfig,
    _connection_errors,
    reap_dead_workers,
    resolve_task,
)
from ctxprop_reference.redis_queue_outcome import (
    TaskCancelledError,
    TaskLostError,
    encode_error,
    encode_value,
)
from ctxprop_reference.snapshot import SnapshotError, SnapshotWarning, VarSpec

__all__ = ["ENV_SIGNING_KEY", "ENV_URL", "Worker", "main", "run_worker"]

#: the hex signing key, read from the environment so it never shows in ``ps``
ENV_SIGNING_KEY: Final = "CTXPROP_QUEUE_SIGNING_KEY"
ENV_URL: Final = "CTXPROP_REDIS_URL"
_BLOCK: Final = 2.0  # seconds one BLMOVE waits before the loop looks again
_log = logging.getLogger(__name__)


class _Stop(BaseException):
    """Raised by the SIGTERM handler while the worker waits for a task."""


class _Cancelled(BaseException):
    """Raised in the running task by the SIGUSR1 handler (a BaseException: tasks that
    catch Exception do not swallow it)."""


class Worker:
    """Takes tasks off one queue and runs each in a fresh Context from its snapshot."""

    def __init__(self, config: QueueConfig, *, worker_id: str | None = None) -> None:
        self.config = config
        self.id = worker_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.serializer = config.serializer()
        self.tasks: dict[str, Callable[..., Any]] = {p: resolve_task(p) for p in config.tasks}
        self.client = config.client(socket_timeout=_BLOCK + 5.0)
        self._stopping = threading.Event()
        self._idle = False
        self._task_id: str | None = None  # the task whose body runs now
        self._cancelling: str | None = None  # the task a cancel message asked to stop
        self._control = config.key("control", self.id)
        self._processing = config.key("processing", self.id)
        self._queue = config.key("queue")

    # -- lifecycle ------------------------------------------------------------------------

    def serve(self, ready_key: str | None = None) -> None:
        """Announce the worker, then run tasks until SIGTERM (or :meth:`stop`)."""
        _context.bind(self.config, self.serializer, self.id)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_sigterm)
            signal.signal(signal.SIGUSR1, self._on_cancel)
        self._beat(ready_key)
        heartbeat = threading.Thread(target=self._heartbeat, name="ctxprop-heartbeat", daemon=True)
        heartbeat.start()
        try:
            self._loop()
        except _Stop:
            pass
        finally:
            self._stopping.set()
            self._leave(heartbeat)

    def stop(self) -> None:
        self._stopping.set()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self._stopping.set()
        if self._idle:  # waiting in BLMOVE: leave now; a running task is finished first
            raise _Stop

    def _on_cancel(self, signum: int, frame: FrameType | None) -> None:
        """SIGUSR1, sent by the heartbeat thread: stop the running task if it is the one."""
        if self._cancelling is not None and self._cancelling == self._task_id:
            self._cancelling = None
            raise _Cancelled

    def _beat(self, ready_key: str | None = None) -> None:
        """Refresh the heartbeat; the first beat also tells the pool the worker is ready."""
        cfg = self.config
        pipe = self.client.pipeline(transaction=True)
        pipe.set(
            cfg.key("heartbeat", self.id), os.getpid(), px=max(1, int(cfg.heartbeat_ttl * 1000))
        )
        pipe.sadd(cfg.key("workers"), self.id)
        pipe.pexpire(cfg.key("workers"), cfg.ttl_ms)
        if ready_key is not None:
            pipe.rpush(ready_key, json.dumps({"worker": self.id, "pid": os.getpid()}))
            pipe.pexpire(ready_key, cfg.ttl_ms)
        pipe.execute()

    def _heartbeat(self) -> None:
        """Refresh the heartbeat a few times per TTL and reap dead workers once per TTL;
        in between, wait on the worker's control list for cancel messages (BLPOP)."""
        period = self.config.heartbeat_ttl / 3
        next_beat = time.monotonic() + period
        beats = 0
        while not self._stopping.is_set():
            try:
                wait = min(max(next_beat - time.monotonic(), 0.01), _BLOCK)
                message = self.client.blpop([self._control], timeout=wait)
                if message is not None:
                    self._on_control(json.loads(message[1]))
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + period
                    self._beat()
                    beats += 1
                    if beats % 3 == 0:
                        reap_dead_workers(self.client, self.config)
            except _connection_errors() as exc:
                _log.warning("worker %s: heartbeat failed (%s)", self.id, type(exc).__name__)
                self._stopping.wait(min(period, 1.0))  # back off before reconnecting

    def _on_control(self, message: dict[str, Any]) -> None:
        """A cancel message: for the running task, or the one this worker is about to run.

        Set the flag, then look: the main thread sets the task id, then looks at the
        flag, so one of the two sees the other and the task is stopped either way.
        """
        task_id = message.get("cancel")
        if task_id is None:
            return
        self._cancelling = task_id
        if task_id == self._task_id:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    def _leave(self, heartbeat: threading.Thread) -> None:
        """A clean exit: the heartbeat thread is woken and joined, anything still in the
        processing list goes back to the queue, the heartbeat key goes."""
        cfg = self.config
        # a new connection: SIGTERM may have interrupted a command on the old ones mid-reply
        client = cfg.client(socket_timeout=5.0)
        try:
            with contextlib.suppress(*_connection_errors()):
                client.rpush(self._control, json.dumps({"wake": True}))
            heartbeat.join()
            while client.lmove(self._processing, self._queue, "LEFT", "RIGHT") is not None:
                pass
            pipe = client.pipeline(transaction=True)
            pipe.delete(cfg.key("heartbeat", self.id), self._control)
            pipe.srem(cfg.key("workers"), self.id)
            pipe.execute()
        except _connection_errors():  # Redis gone: the heartbeat TTL hands the tasks back
            pass
        finally:
            client.close()

    # -- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        backoff = 0.05
        task_id: bytes | None = None
        while not self._stopping.is_set():
            if task_id is None:  # nothing taken with the last acknowledgement: wait for one
                self._idle = True
                try:
                    task_id = self.client.blmove(
                        self._queue, self._processing, _BLOCK, "RIGHT", "LEFT"
                    )
                except _connection_errors() as exc:
                    self._idle = False
                    _log.warning("worker %s: Redis unreachable (%s)", self.id, type(exc).__name__)
                    self._stopping.wait(backoff)  # back off before reconnecting
                    backoff = min(backoff * 2, 1.0)
                    continue
                self._idle = False
                backoff = 0.05
            if task_id is not None:
                task_id = self._handle(task_id.decode())

    def _handle(self, task_id: str) -> bytes | None:
        """Run one task and acknowledge it; returns the next task id taken with the ack."""
        cfg = self.config
        task_key = cfg.key("task", task_id)
        snapshot_key = cfg.snapshot_prefix() + task_id

        def fetch(pipe: Any) -> None:
            pipe.hincrby(task_key, "deliveries", 1)
            pipe.pexpire(task_key, cfg.ttl_ms)
            pipe.hmget(task_key, "task", "args", "done")
            pipe.get(snapshot_key)

        deliveries, _, (task, args, done), record = self._transaction(fetch)
        if done is not None:  # delivered again after its outcome was written: drop it
            return self._ack(task_id, None)
        if task is None:
            lost = TaskLostError(f"the record of task {task_id} expired before a worker ran it")
            return self._ack(task_id, encode_error(lost))
        if deliveries > cfg.max_deliveries:
            lost = TaskLostError(
                f"task {task_id} ({task.decode()}) was delivered {deliveries - 1} times and its "
                f"worker died each time (max_deliveries={cfg.max_deliveries}); not run again"
            )
            return self._ack(task_id, encode_error(lost))
        return self._ack(task_id, self._run(task_id, task.decode(), args, record))

    def _run(self, task_id: str, task: str, args: bytes, record: bytes | None) -> bytes:
        """The task's outcome as JSON bytes: its value, or its exception as type + message."""
        try:
            fn = self.tasks.get(task)
            if fn is None:
                raise LookupError(f"task {task!r} is not registered on worker {self.id}")
            context = self._restore(task_id, record)
            _context.begin(task_id, context.copy())
            self._task_id = task_id  # from here on a cancel message interrupts the task
            try:
                if self._cancelling == task_id:  # asked before it started
                    self._cancelling = None
                    raise _Cancelled
                if inspect.iscoroutinefunction(fn):
                    value = context.run(asyncio.run, fn(*json.loads(args)))
                else:
                    value = context.run(fn, *json.loads(args))
            finally:
                self._task_id = None
            return encode_value(value)
        except _Cancelled:
            return encode_error(TaskCancelledError(f"task {task_id} was cancelled while it ran"))
        except Exception as exc:
            return encode_error(exc, traceback.format_exc())
        finally:
            _context.end()

    def _restore(self, task_id: str, record: bytes | None) -> contextvars.Context:
        """A fresh Context from the task's snapshot; S3 warnings and S4 rejections reported."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SnapshotWarning)
            try:
                snapshot = self.serializer.loads(
                    task_id, record, required=self.config.snapshot_required
                )
            except SnapshotError as exc:
                self._report(str(exc))
                raise
        for warning in caught:
            if issubclass(warning.category, SnapshotWarning):
                self._report(str(warning.message))
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        return _context.task_context(snapshot, task_id)

    def _report(self, message: str) -> None:
        _log.warning("worker %s: %s", self.id, message)
        key = self.config.key("warnings")

        def report(pipe: Any) -> None:
            pipe.rpush(key, message)
            pipe.ltrim(key, -1000, -1)
            pipe.pexpire(key, self.config.ttl_ms)

        self._transaction(report)

    def _ack(self, task_id: str, outcome: bytes | None) -> bytes | None:
        """Write the outcome, then drop the processing entry: one MULTI/EXEC, retried.

        The same transaction takes the next task, if one is queued (one round trip less).
        """
        cfg = self.config
        take_next = not self._stopping.is_set()

        def ack(pipe: Any) -> None:
            if outcome is not None:
                result_key = cfg.key("result", task_id)
                pipe.rpush(result_key, outcome)
                pipe.pexpire(result_key, cfg.ttl_ms)
            pipe.hset(cfg.key("task", task_id), "done", 1)
            pipe.delete(cfg.snapshot_prefix() + task_id)
            pipe.lrem(self._processing, 1, task_id)
            if take_next:
                pipe.lmove(self._queue, self._processing, "RIGHT", "LEFT")

        replies = self._transaction(ack)
        return replies[-1] if take_next else None

    def _transaction(self, fill: Callable[[Any], None]) -> list[Any]:
        """One MULTI/EXEC of what ``fill`` queues, retried (rebuilt) while Redis is unreachable.

        Gives up after the record TTL: by then the task's record is gone anyway.
        """
        backoff, waited = 0.05, 0.0
        while True:
            pipe = self.client.pipeline(transaction=True)
            fill(pipe)
            try:
                return pipe.execute()  # type: ignore[no-any-return]
            except _connection_errors() as exc:
                if waited >= self.config.ttl:
                    raise
                _log.warning("worker %s: Redis unreachable, retrying (%s)", self.id, exc)
                threading.Event().wait(backoff)  # a backoff: nothing to wait for but time
                waited += backoff
                backoff = min(backoff * 2, 1.0)


# -- the process entry points ----------------------------------------------------------------


def run_worker(
    config: QueueConfig, worker_id: str, worker_init: str | None, ready_key: str | None
) -> None:
    """A worker process's main: run ``worker_init`` (by import path), then serve."""
    try:
        worker = Worker(config, worker_id=worker_id)
        if worker_init is not None:
            resolve_task(worker_init)()
    except BaseException as exc:
        if ready_key is not None:
            client = config.client()
            client.rpush(ready_key, json.dumps({"worker": worker_id, "error": f"{exc!r}"}))
            client.pexpire(ready_key, config.ttl_ms)
        raise
    worker.serve(ready_key)


def _var_spec(text: str) -> VarSpec:
    var_id, _, path = text.rpartition("=")
    return VarSpec(var_id or path, path, False)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ctxprop_reference.redis_queue_worker --url URL --queue NAME --task PATH ...``."""
    parser = argparse.ArgumentParser(prog="python -m ctxprop_reference.redis_queue_worker")
    parser.add_argument("--url", default=os.environ.get(ENV_URL), help=f"default: ${ENV_URL}")
    parser.add_argument("--queue", default="default")
    parser.add_argument("--prefix", default="ctxprop:queue")
    parser.add_argument("--task", action="append", default=[], help="module:qualname, repeatable")
    parser.add_argument("--var", action="append", default=[], help="[id=]module:attribute")
    parser.add_argument(
        "--secret-var", action="append", default=[], help="a --var id to keep secret"
    )
    parser.add_argument("--dataclass", action="append", default=[], help="module:qualname")
    parser.add_argument("--worker-init", default=None, help="module:qualname, run at start")
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--ready-key", default=None)
    parser.add_argument("--ttl", type=float, default=3600.0)
    parser.add_argument("--heartbeat-ttl", type=float, default=5.0)
    parser.add_argument("--max-deliveries", type=int, default=2)
    parser.add_argument("--snapshot-required", action="store_true")
    ns = parser.parse_args(argv)
    if not ns.url:
        parser.error(f"--url or ${ENV_URL} is required")
    key = os.environ.get(ENV_SIGNING_KEY)
    specs = tuple(_var_spec(v) for v in ns.var)
    secret = set(ns.secret_var)
    config = QueueConfig(
        url=ns.url,
        queue=ns.queue,
        prefix=ns.prefix,
        tasks=tuple(ns.task),
        var_specs=tuple(VarSpec(s.var_id, s.path, s.var_id in secret) for s in specs),
        dataclasses=tuple(ns.dataclass),
        signing_key=bytes.fromhex(key) if key else None,
        ttl=ns.ttl,
        heartbeat_ttl=ns.heartbeat_ttl,
        max_deliveries=ns.max_deliveries,
        snapshot_required=ns.snapshot_required,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    run_worker(config, ns.worker_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}", ns.worker_init,
               ns.ready_key)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
