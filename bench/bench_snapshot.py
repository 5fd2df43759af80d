"""Snapshot benchmark: per-task propagation cost against its floor, side by side.

Run: ``python bench/bench_snapshot.py``  (about 10-30 s; exit status 1 if the
snapshot costs more than 2x its floor on any store).

* snapshot: ``TaskSnapshots.submit(task)`` then ``TaskSnapshots.restore(task)``
  for a Context holding 10 registered vars: capture, encode, store, load,
  decode, restore into a fresh Context.
* floor: the same 10 values through ``json.dumps`` + ``json.loads`` and one
  round trip (``add`` + ``get``) through the same kind of store.

Both run in many short interleaved rounds; the best round of each (the least
disturbed by other load) gives the ratio.  Stores: in-memory, fakeredis
(in-process), and a real redis-server when one is on PATH.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import shutil
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ctxprop_reference.snapshot import (
    MemoryStore,
    RedisStore,
    SnapshotSerializer,
    SnapshotStore,
    TaskSnapshots,
    VarRegistry,
)

TARGET_RATIO = 2.0
#: in-process stores: this process's CPU time, so other load on a shared machine
#: does not count; a real server: the wall clock, so the server's time does
CPU_TIME = time.process_time
WALL_CLOCK = time.perf_counter
ROUNDS = 40
TTL_MS = 60_000
VALUES: dict[str, Any] = {
    "request_id": "req-7f3a9c",
    "tenant": "acme",
    "user": "ada",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "locale": "en-GB",
    "attempt": 3,
    "deadline_ms": 1500,
    "roles": ["admin", "billing"],
    "headers": {"x-request-id": "req-7f3a9c", "user-agent": "bench/1"},
}


def service_context() -> tuple[VarRegistry, contextvars.Context]:
    """10 registered vars set in a Context, plus a few unregistered ones."""
    registry = VarRegistry()
    context = contextvars.Context()
    for name, value in VALUES.items():
        var: contextvars.ContextVar[Any] = contextvars.ContextVar(name)
        registry.register(var, f"bench:{name}")
        context.run(var.set, value)
    for name in ("sentry_scope", "db_session"):
        context.run(contextvars.ContextVar(name).set, object())
    return registry, context


def snapshot_task(snapshots: TaskSnapshots, prefix: str) -> Callable[[], None]:
    ids = (f"{prefix}-{n}" for n in itertools.count())

    def one_task() -> None:
        task_id = next(ids)
        snapshots.submit(task_id)
        snapshots.restore(task_id)

    return one_task


def floor_task(store: SnapshotStore) -> Callable[[], None]:
    ids = map(str, itertools.count())
    values = {f"bench:{name}": value for name, value in VALUES.items()}

    def one_task() -> None:
        key = "floor:" + next(ids)
        store.add(key, json.dumps(values).encode(), TTL_MS)
        json.loads(store.get(key))  # type: ignore[arg-type]

    return one_task


def best_costs(
    context: contextvars.Context,
    floor: Callable[[], None],
    ours: Callable[[], None],
    loops: int,
    clock: Callable[[], float],
) -> tuple[float, float]:
    """Best per-task cost (µs) of the floor and of the snapshot over interleaved rounds."""
    floor_us: list[float] = []
    ours_us: list[float] = []
    for round_ in range(ROUNDS):
        pair = ((floor, floor_us), (ours, ours_us))
        for task, costs in pair if round_ % 2 else reversed(pair):
            timer = timeit.Timer(task, timer=clock)
            costs.append(context.run(timer.timeit, loops) / loops * 1e6)
    return min(floor_us), min(ours_us)


def stores() -> Iterator[tuple[str, Callable[[], SnapshotStore], int, Callable[[], float]]]:
    """(name, store factory, loops per round, clock) for each store available here."""
    yield "memory", MemoryStore, 500, CPU_TIME
    import fakeredis

    server = fakeredis.FakeServer()
    yield "fakeredis", lambda: RedisStore(fakeredis.FakeRedis(server=server)), 200, CPU_TIME
    if shutil.which("redis-server") is None:
        print("redis-server: not on PATH, skipped", flush=True)
        return
    from pytest_ctxprop.harness.redis_server import start_redis_server

    with tempfile.TemporaryDirectory() as workdir:
        process = start_redis_server(Path(workdir))
        try:
            yield "redis-server", lambda: RedisStore.from_url(process.url), 100, WALL_CLOCK
        finally:
            process.stop()


def main() -> int:
    registry, context = service_context()
    unsigned = SnapshotSerializer(registry)
    signed = SnapshotSerializer(registry, signing_key=b"bench-signing-key-0123456789abcdef")
    print(f"per-task snapshot cost, 10 vars, best of {ROUNDS} interleaved rounds")
    print(f"{'store':<20}{'floor µs':>10}{'snapshot µs':>13}{'ratio':>8}   goal <= {TARGET_RATIO}x")
    status = 0
    for name, make_store, loops, clock in stores():
        for label, serializer in ((name, unsigned), (name + " + HMAC", signed)):
            snapshots = TaskSnapshots(serializer, make_store(), ttl=TTL_MS / 1000)
            ours = snapshot_task(snapshots, prefix=label.replace(" ", ""))
            floor_us, ours_us = best_costs(context, floor_task(make_store()), ours, loops, clock)
            ratio = ours_us / floor_us
            if serializer is signed:
                verdict = "(info: signing is opt-in)"
            else:
                verdict = "ok" if ratio <= TARGET_RATIO else "OVER GOAL"
                status |= ratio > TARGET_RATIO
            row = f"{label:<20}{floor_us:>10.1f}{ours_us:>13.1f}{ratio:>7.2f}x"
            print(f"{row}   {verdict}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
