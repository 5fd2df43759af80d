"""One broker worker in its own OS process, for the celery and rq rows: start cheap, stop clean.

A worker is forked from the rows' fork server
(:mod:`ctxprop_conformance.ecosystem.fork_server`: single threaded, with the
library imported once), so a fresh worker per property check costs milliseconds
of forking rather than an interpreter start, and never inherits the caller's
threads or context.  The child makes itself a process group leader, so ``stop``
can reach what the library forks below it (celery's pool children, rq's work
horses) and leave nothing behind.  Readiness is a message the worker pushes to a
Redis list once its library says it is ready: no sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ctxprop_conformance.ecosystem import fork_server
from ctxprop_reference.redis_queue_embedded import embedded_redis_url
from pytest_ctxprop.adapter import SnapshotAccess, SnapshotFault

ENV_URL = "CTXPROP_REDIS_URL"


def backend_url() -> str:
    """``$CTXPROP_REDIS_URL`` if set (a real Redis), else this process's embedded fakeredis."""
    return os.environ.get(ENV_URL) or embedded_redis_url()


def connect(url: str) -> Any:
    """A redis-py client (the embedded fakeredis writes CLIENT INFO as Redis does)."""
    import redis

    return redis.Redis.from_url(url)


def resolve(path: str) -> Any:
    """``module:qualname`` to the object (trusted input: paths this adapter itself made)."""
    import importlib

    module, _, qualname = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def qualified(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def announce(url: str, ready_key: str, message: dict[str, Any]) -> None:
    """Called in the worker: tell the starter it is ready (or why it is not)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.rpush(ready_key, json.dumps(message))
        client.expire(ready_key, 60)
    finally:
        client.close()


def _child(target: str, args: tuple[Any, ...]) -> None:
    os.setpgrp()  # stop() signals the whole group: pool children and work horses too
    resolve(target)(*args)


class WorkerProcess:
    """One worker process: ``start`` returns once it announced itself; ``stop`` reaps it all.

    ``start`` is ``launch`` then ``wait_ready``: a row with several workers
    launches them all before waiting, so they get ready side by side.
    """

    def __init__(self, target: str, args: Sequence[Any]) -> None:
        context = fork_server.context()
        self.ready_key = f"ctxprop:eco-ready:{uuid.uuid4().hex}"
        self.stop_signal: int = signal.SIGKILL
        self._stopped = False
        self._process: Any = context.Process(
            target=_child, args=(target, (*args, self.ready_key)), daemon=True
        )

    def start(self, url: str, timeout: float = 20.0) -> None:
        self.launch()
        self.wait_ready(url, timeout)

    def launch(self) -> None:
        self._process.start()

    def wait_ready(self, url: str, timeout: float = 20.0) -> None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5.0)
        try:
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"the worker did not become ready within {timeout:g}s")
                reply = client.blpop([self.ready_key], timeout=min(0.25, remaining))
                if reply is not None:
                    message = json.loads(reply[1])
                    if "error" in message:
                        raise RuntimeError(f"the worker failed to start: {message['error']}")
                    return
                if not self._process.is_alive():
                    raise RuntimeError(f"the worker exited at start ({self._process.exitcode})")
        finally:
            client.delete(self.ready_key)
            client.close()

    def stop(self, grace: float = 3.0) -> None:
        """``stop_signal`` to the group (default SIGKILL), then SIGKILL past ``grace``; reap.

        Every task has finished or been abandoned by then, so nothing waits on a warm
        shutdown; the queue's keys are deleted by prefix afterwards.
        """
        if self._stopped:
            return
        pid = self._process.pid
        if pid is None:
            return
        self._stopped = True
        for sig, wait in ((self.stop_signal, grace), (signal.SIGKILL, grace)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            self._process.join(wait)
            if self._process.exitcode is not None:
                break
        if self._process.exitcode is None:
            raise RuntimeError(f"worker pid {pid} survived SIGKILL")
        with contextlib.suppress(ProcessLookupError):  # what the library forked below it
            os.killpg(pid, signal.SIGKILL)
        self._process.close()


# -- S3/S4: spoil the next stored snapshot (caller side), forward warnings (worker side) ----


class SpoilingStore:
    """The caller's snapshot store for a ``+ctxprop`` row: Redis, spoiling the next record.

    ``fault`` (set by :class:`Access`) applies to the next record written only,
    atomically with the write, so no worker can load the record before it is spoiled.
    """

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.fault: tuple[str, bytes | None] | None = None

    def add(self, key: str, value: bytes, ttl_ms: int) -> bool:
        fault, self.fault = self.fault, None
        if fault is None:
            return bool(self.client.set(key, value, px=ttl_ms, nx=True))
        kind, payload = fault
        if kind == "missing":
            return True
        pipe = self.client.pipeline(transaction=True)
        pipe.set(key, _spoiled(value, kind, payload), px=ttl_ms, nx=True)
        if kind == "expired":
            pipe.pexpireat(key, 1)  # its TTL has passed: Redis drops it at once
        return bool(pipe.execute()[0])

    def get(self, key: str) -> bytes | None:
        value = self.client.get(key)
        return None if value is None else bytes(value)

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def close(self) -> None:
        self.client.close()


def _spoiled(record: bytes, kind: str, payload: bytes | None) -> bytes:
    if kind == "expired":
        return record
    if kind == "malformed":  # a damaged header: no snapshot record any more
        return b"ctxprop-snapshot/2 garbled\n" + record.partition(b"\n")[2]
    if kind == "tampered":  # one byte of the body changed: the signature no longer matches
        return record[:-1] + bytes([record[-1] ^ 0x01])
    if kind == "foreign" and payload is not None:
        return payload
    raise ValueError(f"unknown snapshot fault {kind!r}")


class Access(SnapshotAccess):
    """``snapshot_access()`` of a ``+ctxprop`` row: its store's next fault, workers' warnings."""

    def __init__(self, store: SpoilingStore, warnings_key: str) -> None:
        self._store, self._key = store, warnings_key

    def corrupt_next(self, fault: SnapshotFault, payload: bytes | None = None) -> None:
        self._store.fault = (fault, payload)

    def warnings(self) -> list[str]:
        messages = self._store.client.lrange(self._key, 0, -1)
        return [str(json.loads(m)["warning"]) for m in messages]


def forward_warnings(url: str, key: str) -> None:
    """In a worker: every ``SnapshotWarning`` also goes to the Redis list ``key``."""
    import warnings

    from ctxprop_reference.snapshot import SnapshotWarning

    previous = warnings.showwarning

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, SnapshotWarning):
            announce(url, key, {"warning": str(message)})
        previous(message, category, *args, **kwargs)

    warnings.showwarning = show
    warnings.simplefilter("always", SnapshotWarning)
