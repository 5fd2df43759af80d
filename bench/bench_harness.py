"""Harness timing goals, measured side by side in one run (never asserted in tests).

1. Ready latency of run_server_async: from the moment the server listens to the
   moment the fixture yields, median of 50 starts, beside the 100 ms fixed sleep
   such helpers commonly use (target: <= 5 ms).
2. CPU time spent by a worker during a 1 s blocking XREAD / XREADGROUP (COUNT 1)
   on an empty stream, with and without the fakeredis blocking patch, sync and
   async clients.

Run: ``python bench/bench_harness.py`` (about 10 s).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import fakeredis

from pytest_ctxprop import run_server_async
from pytest_ctxprop.harness import fakeredis_blocking as fb

STARTS = 50
FIXED_SLEEP = 0.100
BLOCK_MS = 1000


async def _ready_latency() -> float:
    """Seconds from 'listening' (just before ready() is called) to the fixture yielding."""
    listening_at: list[float] = []

    async def serve(ready: Any) -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), ready.host, ready.port)
        listening_at.append(time.perf_counter())
        ready(server.sockets[0].getsockname())
        async with server:
            await server.serve_forever()

    async with run_server_async(serve):
        yielded_at = time.perf_counter()
    return yielded_at - listening_at[0]


async def bench_ready_latency() -> None:
    await _ready_latency()  # warm-up: imports, first connect
    samples = [await _ready_latency() for _ in range(STARTS)]
    median = statistics.median(samples)
    print(f"ready latency, median of {STARTS} starts : {median * 1000:8.3f} ms")
    print(f"fixed sleep helpers commonly use       : {FIXED_SLEEP * 1000:8.3f} ms")
    print(f"ratio (fixed sleep / run_server_async)  : {FIXED_SLEEP / median:8.1f}x")
    print(f"target <= 5 ms                          : {'met' if median <= 0.005 else 'MISSED'}")


def _read(client: Any, command: str, block_ms: int) -> Any:
    if command == "XREAD":
        return client.xread({"jobs": "$"}, block=block_ms)
    return client.xreadgroup("g", "w", {"jobs": ">"}, count=1, block=block_ms)


def _worker_sync(command: str) -> tuple[float, float, int]:
    """A worker loop reading for BLOCK_MS: (wall s, CPU s, reads issued)."""
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    client.xgroup_create("jobs", "g", id="$", mkstream=True)
    wall0, cpu0, reads = time.monotonic(), time.process_time(), 0
    while (left := BLOCK_MS - (time.monotonic() - wall0) * 1000) > 1:
        reads += 1
        if _read(client, command, int(left)):
            break
    client.close()
    return time.monotonic() - wall0, time.process_time() - cpu0, reads


def _worker_async(command: str) -> tuple[float, float, int]:
    async def main() -> tuple[float, float, int]:
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
        await client.xgroup_create("jobs", "g", id="$", mkstream=True)
        wall0, cpu0, reads = time.monotonic(), time.process_time(), 0
        while (left := BLOCK_MS - (time.monotonic() - wall0) * 1000) > 1:
            reads += 1
            if await _read(client, command, int(left)):
                break
        await client.aclose()
        return time.monotonic() - wall0, time.process_time() - cpu0, reads

    return asyncio.run(main())


def bench_blocking_cpu() -> None:
    version = getattr(fakeredis, "__version__", "?")
    print(
        f"\nCPU of a worker during a {BLOCK_MS} ms blocking read on an empty stream "
        f"(fakeredis {version}):"
    )
    applied: tuple[str, ...] = ()
    for command in ("XREAD", "XREADGROUP"):
        for label, worker in (("sync ", _worker_sync), ("async", _worker_async)):
            wall, cpu, reads = worker(command)
            with fb.blocking_patch() as report:
                p_wall, p_cpu, p_reads = worker(command)
            applied = applied or report.applied
            print(
                f"  {command:10s} {label} without patch: {cpu * 1000:6.1f} ms CPU in "
                f"{wall * 1000:5.0f} ms ({reads:5d} reads) | with patch: {p_cpu * 1000:5.1f} ms "
                f"CPU in {p_wall * 1000:5.0f} ms ({p_reads} reads)"
            )
    print(f"  fixes the probe chose: {'; '.join(applied) or 'none needed'}")


if __name__ == "__main__":
    asyncio.run(bench_ready_latency())
    bench_blocking_cpu()
