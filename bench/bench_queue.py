"""Queue throughput: 1,000 no-op tasks through 2 worker processes, tasks/s, side by side.

The reference Redis queue (snapshot on: 3 registered vars set by the caller,
signed, stored and restored per task; every result fetched by the caller)
beside pydocket on the same Redis with its intervals tuned down, on fakeredis
(the embedded TCP server) and on a real redis-server when one is on PATH.
Goal: at least 2x pydocket's tasks/s on the same backend.

    python bench/bench_queue.py            # needs the bench extra: pip install -e .[bench]
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

TASKS = 1000
WORKERS = 2
GOAL = 2.0
NOOP_TASK = "builtins:len"  # len([]): a registered no-op the workers import by name


def bench_ctxprop(url: str) -> float:
    from ctxprop_conformance import probes
    from ctxprop_reference.redis_queue import QueueConfig, RedisTaskQueue
    from ctxprop_reference.redis_queue_pool import WorkerPool
    from ctxprop_reference.snapshot import VarRegistry

    registry = VarRegistry()
    for var in (probes.V, probes.W, probes.D):
        registry.register_importable(var.name)
    config = QueueConfig(
        url=url, queue=uuid.uuid4().hex[:8], tasks=(NOOP_TASK,), var_specs=registry.specs(),
        signing_key=secrets.token_bytes(32),
    )  # fmt: skip
    queue = RedisTaskQueue(config)
    pool = WorkerPool(config, WORKERS, preload=("ctxprop_conformance.probes",))
    pool.start()
    try:
        probes.V.set("request-7f3a")
        probes.W.set({"user": "ada", "roles": ["admin"]})
        probes.D.set("tenant-42")
        queue.result(queue.submit(NOOP_TASK, []), 10)  # warm: both sides connected
        start = time.perf_counter()
        handles = [queue.submit(NOOP_TASK, []) for _ in range(TASKS)]
        for handle in handles:
            queue.result(handle, 60)
        elapsed = time.perf_counter() - start
    finally:
        pool.stop()
        queue.purge()
        queue.close()
    return TASKS / elapsed


async def noop() -> None:
    """The pydocket task."""


def _docket_worker_settings() -> dict[str, timedelta]:
    # "tuned down": poll and schedule every 5 ms instead of every 250 ms
    return {
        "minimum_check_interval": timedelta(milliseconds=5),
        "scheduling_resolution": timedelta(milliseconds=5),
    }


async def _docket_worker(url: str, name: str) -> None:
    from docket import Docket, Worker

    async with Docket(name=name, url=url) as docket:
        docket.register(noop)
        async with Worker(docket, **_docket_worker_settings()) as worker:  # type: ignore[arg-type]
            await worker.run_forever()


async def _docket_run(url: str, name: str) -> float:
    from docket import Docket

    async with Docket(name=name, url=url) as docket:
        docket.register(noop)
        warm = await docket.add(noop)()
        await warm.get_result(timeout=timedelta(seconds=30))
        start = time.perf_counter()
        for _ in range(TASKS):
            await docket.add(noop)()
        # done when the stream is empty: docket XDELs a message once its task finished;
        # a cheap poll (XLEN + ZCARD every 10 ms), so the watching costs docket nothing
        while await _docket_pending(docket):
            await asyncio.sleep(0.01)
        return TASKS / (time.perf_counter() - start)


async def _docket_pending(docket: Any) -> int:
    async with docket.redis() as redis, redis.pipeline() as pipe:
        pipe.xlen(docket.stream_key)
        pipe.zcard(docket.queue_key)
        return sum(await pipe.execute())


def bench_docket(url: str) -> float:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, __file__, "--docket-worker", url, name]
    workers = [subprocess.Popen(argv, stdin=subprocess.DEVNULL) for _ in range(WORKERS)]
    try:
        return asyncio.run(_docket_run(url, name))
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(10)


def _row(backend: str, ours: float, docket: float | str) -> str:
    if isinstance(docket, str):
        return f"{backend:<14} ctxprop {ours:8.0f} tasks/s   pydocket n/a ({docket})"
    ratio = ours / docket
    verdict = "meets" if ratio >= GOAL else "MISSES"
    return (
        f"{backend:<14} ctxprop {ours:8.0f} tasks/s   pydocket {docket:8.0f} tasks/s   "
        f"ratio {ratio:5.2f}x ({verdict} the {GOAL:g}x goal)"
    )


def _measure(backend: str, url: str, docket_missing: str | None) -> None:
    ours = bench_ctxprop(url)
    docket = bench_docket(url) if docket_missing is None else docket_missing
    print(_row(backend, ours, docket), flush=True)


def main() -> int:
    import importlib.util

    from ctxprop_reference.redis_queue import embedded_redis_url

    missing = (
        None if importlib.util.find_spec("docket") else "not installed: pip install -e .[bench]"
    )
    # pydocket runs Lua scripts: fakeredis needs lupa for them (the fakeredis[lua] extra)
    lua = missing or (None if importlib.util.find_spec("lupa") else "fakeredis without lupa")
    print(f"{TASKS} no-op tasks, {WORKERS} worker processes, snapshot on (3 vars, signed)")
    _measure("fakeredis", embedded_redis_url(), lua)
    if shutil.which("redis-server") is None:
        print("redis-server    n/a (not on PATH)")
        return 0
    from pytest_ctxprop.harness.redis_server import start_redis_server

    with tempfile.TemporaryDirectory() as workdir:
        server = start_redis_server(Path(workdir))
        try:
            _measure("redis-server", server.url, missing)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--docket-worker"]:
        os.environ.setdefault("OTEL_SDK_DISABLED", "true")
        asyncio.run(_docket_worker(sys.argv[2], sys.argv[3]))
        sys.exit(0)
    sys.exit(main())
