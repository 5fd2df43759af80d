"""Plugin-core performance goals, measured side by side in one run (issue 2).

    python bench/bench_core.py

1. ``ctxprop matrix`` on every built-in runtime: wall time (goal <= 20 s).
2. Reference runtimes' per-task overhead against the same executor driven with a
   bare ``copy_context().run`` (goal <= 1.10x).
3. ``pytest --co`` of an empty project with the plugin against without it
   (goal <= 1.15x).

Rounds alternate between the two sides so drift on the machine hits both alike.
Per-task costs are the best round of each side (like ``timeit``: scheduler noise
only ever adds time); the collection and matrix timings are medians.
"""

from __future__ import annotations

import asyncio
import contextvars
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ctxprop_reference.aio import offload, spawn
from ctxprop_reference.threads import ContextThreadPoolExecutor

ROUNDS = 21
TASKS = 3000


def _noop() -> None:
    return None


async def _anoop() -> None:
    return None


def _alternate(
    ours: Callable[[], float], bare: Callable[[], float], pick: Callable[[list[float]], float]
) -> tuple[float, float]:
    a, b = [], []
    for _ in range(ROUNDS):
        a.append(ours())
        b.append(bare())
    return pick(a), pick(b)


def _pool_round(pool: ThreadPoolExecutor, submit: Callable[[], object]) -> float:
    started = time.perf_counter()
    futures = [submit() for _ in range(TASKS)]
    for f in futures:
        f.result()  # type: ignore[attr-defined]
    return (time.perf_counter() - started) / TASKS


def bench_threadpool() -> tuple[float, float]:
    with ContextThreadPoolExecutor(1) as ours, ThreadPoolExecutor(1) as bare:
        return _alternate(
            lambda: _pool_round(ours, lambda: ours.submit(_noop)),
            lambda: _pool_round(bare, lambda: bare.submit(contextvars.copy_context().run, _noop)),
            min,
        )


def bench_spawn() -> tuple[float, float]:
    async def ours() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(spawn(_anoop()) for _ in range(TASKS)))
        return (time.perf_counter() - started) / TASKS

    async def bare() -> float:
        # what a user writes at each call site, with the loop looked up as spawn() does
        started = time.perf_counter()
        if sys.version_info >= (3, 11):
            tasks = [
                asyncio.get_running_loop().create_task(_anoop(), context=contextvars.copy_context())
                for _ in range(TASKS)
            ]
        else:
            tasks = [
                contextvars.copy_context().run(asyncio.get_running_loop().create_task, _anoop())
                for _ in range(TASKS)
            ]
        await asyncio.gather(*tasks)
        return (time.perf_counter() - started) / TASKS

    async def both() -> tuple[float, float]:
        a, b = [], []
        for _ in range(ROUNDS):
            a.append(await ours())
            b.append(await bare())
        return min(a), min(b)

    return asyncio.run(both())


def bench_offload() -> tuple[float, float]:
    async def both() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(4)
        a, b = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            await asyncio.gather(*(offload(_noop, executor=pool) for _ in range(TASKS)))
            a.append((time.perf_counter() - started) / TASKS)
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    loop.run_in_executor(pool, contextvars.copy_context().run, _noop)
                    for _ in range(TASKS)
                )
            )
            b.append((time.perf_counter() - started) / TASKS)
        pool.shutdown()
        return min(a), min(b)

    return asyncio.run(both())


def _collect_empty(tmp: Path, *plugin: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *plugin],
        cwd=tmp,
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - started


def bench_collect() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "pytest.ini").write_text("[pytest]\n")
        env_off = ("-p", "no:ctxprop")
        return _alternate(
            lambda: _collect_empty(Path(tmp), "-p", "ctxprop"),
            lambda: _collect_empty(Path(tmp), *env_off),
            statistics.median,
        )


def bench_matrix() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest_ctxprop._cli", "matrix"], capture_output=True, check=True
    )
    return time.perf_counter() - started


def main() -> None:
    print(f"Python {sys.version.split()[0]}, {ROUNDS} alternating rounds")
    rows = [
        (
            "reference ContextThreadPoolExecutor vs bare copy_context().run",
            bench_threadpool(),
            1.10,
        ),
        ("reference spawn vs create_task(context=copy_context())", bench_spawn(), 1.10),
        ("reference offload vs run_in_executor(copy_context().run)", bench_offload(), 1.10),
    ]
    for label, (ours, bare), goal in rows:
        ratio = ours / bare
        print(
            f"{label}: {ours * 1e6:.1f} us vs {bare * 1e6:.1f} us per task -> "
            f"{ratio:.3f}x (goal <= {goal:.2f}x) {'ok' if ratio <= goal else 'OVER'}"
        )
    with_plugin, without = bench_collect()
    ratio = with_plugin / without
    verdict = "ok" if ratio <= 1.15 else "OVER"
    print(
        f"pytest --co, empty project, -p ctxprop vs -p no:ctxprop: {with_plugin * 1e3:.0f} ms vs "
        f"{without * 1e3:.0f} ms -> {ratio:.3f}x (goal <= 1.15x) {verdict}"
    )
    wall = bench_matrix()
    print(f"ctxprop matrix, every built-in runtime: {wall:.1f} s (goal <= 20 s) "
          f"{'ok' if wall <= 20 else 'OVER'}")  # fmt: skip


if __name__ == "__main__":
    main()
