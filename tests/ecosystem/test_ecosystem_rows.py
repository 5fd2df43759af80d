"""The ecosystem rows: every installed library gets honest verdicts, checked independently.

One inner session runs the suite on every ``ctxprop.runtimes`` entry point.  No
row may hold an ``error`` (a false error is a claim about the adapter, not the
library), and each row's F1 verdict must agree with a direct measurement of the
same library here, written without the suite: set a var, run a task through
the library as its documentation says, read the var there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import multiprocessing
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from ecosystem_inner_session import run_rows

ENTRY_POINTS = {ep.name: ep.value for ep in entry_points(group="ctxprop.runtimes")}
HERE = Path(__file__).parent
V: contextvars.ContextVar[str] = contextvars.ContextVar("ecosystem_check_V")


def read_v() -> str:
    return V.get("<unset>")


async def read_v_async() -> str:
    return V.get("<unset>")


def _anyio(backend: str, via_thread: bool) -> str:
    import anyio

    async def main() -> str:
        V.set("a")
        if via_thread:
            return await anyio.to_thread.run_sync(read_v)
        result: list[str] = []

        async def task() -> None:
            result.append(await read_v_async())

        async with anyio.create_task_group() as tg:
            tg.start_soon(task)
        return result[0]

    return contextvars.Context().run(anyio.run, main, backend=backend)


def _asgiref(direction: str) -> str:
    from asgiref.sync import async_to_sync, sync_to_async

    V.set("a")
    if direction == "async_to_sync":
        return async_to_sync(read_v_async)()

    async def main() -> str:
        return await sync_to_async(read_v, thread_sensitive=False)()

    return asyncio.run(main())


def _gevent() -> str:
    import gevent

    V.set("a")
    return gevent.spawn(read_v).get(timeout=10)


def _pool(method: str, kind: str) -> str:
    """The pool is created and its worker started first, as the suite does; then V is set."""
    context = multiprocessing.get_context(method)
    if kind == "multiprocessing":
        with context.Pool(1) as mp_pool:
            mp_pool.apply_async(read_v).get(30)
            V.set("a")
            return mp_pool.apply_async(read_v).get(30)
    if kind == "loky":
        import loky

        pool: Any = loky.ProcessPoolExecutor(1)
    else:
        pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
    with pool:
        pool.submit(read_v).result(30)
        V.set("a")
        return pool.submit(read_v).result(30)


#: row -> a direct measurement: does a task see the caller's V=a?
DIRECT: dict[str, Callable[[], str]] = {
    "anyio.to_thread": lambda: _anyio("asyncio", True),
    "anyio.to_thread_trio": lambda: _anyio("trio", True),
    "anyio.task_group": lambda: _anyio("asyncio", False),
    "anyio.task_group_trio": lambda: _anyio("trio", False),
    "trio.nursery": lambda: _anyio("trio", False),
    "trio.to_thread": lambda: _anyio("trio", True),
    "asgiref.sync_to_async": lambda: _asgiref("sync_to_async"),
    "asgiref.async_to_sync": lambda: _asgiref("async_to_sync"),
    "gevent.spawn": _gevent,
    "multiprocessing.pool_spawn": lambda: _pool("spawn", "multiprocessing"),
    "multiprocessing.pool_fork": lambda: _pool("fork", "multiprocessing"),
    "concurrent.process_pool_spawn": lambda: _pool("spawn", "concurrent"),
    "concurrent.process_pool_fork": lambda: _pool("fork", "concurrent"),
    "loky": lambda: _pool("spawn", "loky"),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    workdir = tmp_path_factory.mktemp("ecosystem")
    return run_rows(workdir, DIRECT, timeout=600, extra=["-W", "error"])


def _covered_by_own_file(name: str) -> bool:
    """Broker and cluster rows have a test module of their own (``test_<library>_rows.py``),
    with the same checks: no ``error``, F1 against a direct measurement, ``+ctxprop`` all pass."""
    library = name.split(".", 1)[0]
    own = HERE / f"test_{library}_rows.py"
    return own.is_file() and f'"{name}"' in own.read_text(encoding="utf-8")


def test_every_entry_point_row_has_a_direct_measurement() -> None:
    unchecked = {n for n in ENTRY_POINTS if n not in DIRECT and not _covered_by_own_file(n)}
    assert not unchecked, "rows no test measures directly"
    assert set(DIRECT) <= set(ENTRY_POINTS)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("name", sorted(DIRECT))
def test_row_has_no_error_and_f1_agrees_with_a_direct_measurement(
    name: str, rows: dict[str, dict[str, dict[str, Any]]]
) -> None:
    verdicts = rows[name]
    errors = {p: r["reason"][:300] for p, r in verdicts.items() if r["verdict"] == "error"}
    assert not errors
    if verdicts["F1"]["verdict"] == "n/a":
        pytest.skip(verdicts["F1"]["reason"])  # the library is not installed here
    seen = contextvars.Context().run(DIRECT[name])
    expected = "pass" if seen == "a" else "fail"
    assert verdicts["F1"]["verdict"] == expected, f"direct measurement saw V={seen!r}"
