"""Servers and readiness waiters that swallow cancellation: abandoned within the bound,
reported as leaked, and the test (and the session) still finishes, under pytest-asyncio,
anyio and the sync variant.

Bounds are asserted with a wide safety margin (a loaded 2-core machine); the inner
sessions run in a subprocess with a hard timeout, so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import harness_broken as broken
import pytest
from harness_inner_runs import PLUGIN, inner_ini

from pytest_ctxprop import LeakGuard, ServerStartTimeout, ServerStopTimeout, run_server
from pytest_ctxprop.harness.server import ABANDONED

SAFETY = 5.0  # seconds of slack on top of a bound, for a loaded machine
INNER_TIMEOUT = 120  # a hung inner session fails the test instead of hanging it


class StubbornReadiness:
    """A server object whose ``wait_until_ready()`` swallows every cancellation."""

    def __init__(self) -> None:
        self.escape = asyncio.Event()

    async def serve(self) -> None:
        await asyncio.Event().wait()

    async def wait_until_ready(self) -> None:
        while not self.escape.is_set():
            try:
                await self.escape.wait()
            except asyncio.CancelledError:
                continue


@pytest.fixture
def release_abandoned() -> Iterator[None]:
    """Close what a test abandoned on a loop that is gone, so nothing outlives the test."""
    before = list(ABANDONED)
    yield
    for task in ABANDONED[len(before) :]:
        task.get_coro().close()  # the loop is closed: close the coroutine instead
    ABANDONED[:] = before


def _server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ctxprop-server")]


def test_sync_variant_abandons_a_server_that_never_stops_within_its_bound(release_abandoned):
    state = broken.ServerState()
    guard = LeakGuard(grace=0.5).start()
    start = time.monotonic()
    server = broken.stubborn_server(state, forever=True)
    with pytest.raises(ServerStopTimeout, match="abandoned"), run_server(server, stop_timeout=0.5):
        pass
    elapsed = time.monotonic() - start
    assert elapsed < 0.5 + 1.0 + SAFETY, f"teardown took {elapsed:.1f} s"
    assert not _server_threads(), "the server thread outlived its bound"
    leaks = guard.leaks()
    assert any("asyncio task" in leak and "ctxprop-server" in leak for leak in leaks), leaks


def test_sync_variant_bounds_a_readiness_waiter_that_swallows_cancellation(release_abandoned):
    server = StubbornReadiness()
    before = len(ABANDONED)
    start = time.monotonic()
    with pytest.raises(ServerStartTimeout), run_server(server, ready_timeout=0.5, stop_timeout=0.5):
        pytest.fail("must not yield")
    elapsed = time.monotonic() - start
    assert elapsed < 0.5 + 0.5 + 1.0 + SAFETY, f"start-up took {elapsed:.1f} s"
    assert not _server_threads(), "the server thread outlived its bound"
    assert len(ABANDONED) == before + 1, "the readiness waiter should be kept as abandoned"


@pytest.mark.asyncio
async def test_async_readiness_waiter_that_swallows_cancellation_is_abandoned():
    from pytest_ctxprop import run_server_async

    server = StubbornReadiness()
    before = set(ABANDONED)
    with pytest.raises(ServerStartTimeout):
        async with run_server_async(server, ready_timeout=0.3, stop_timeout=0.3):
            pytest.fail("must not yield")
    abandoned = set(ABANDONED) - before
    assert len(abandoned) == 1
    server.escape.set()
    await asyncio.wait(abandoned)
    ABANDONED[:] = [t for t in ABANDONED if t not in abandoned]


INNER = """
import asyncio
import pytest
from pytest_ctxprop import ServerStopTimeout, run_server_async


async def stubborn(ready):
    server = await asyncio.start_server(lambda r, w: w.close(), ready.host, ready.port)
    ready(server.sockets[0].getsockname())
    while True:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            continue


{mark}
async def test_stubborn_server({args}):
    with pytest.raises(ServerStopTimeout, match="abandoned"):
        async with run_server_async(stubborn, stop_timeout=0.3):
            pass


{mark}
async def test_stubborn_server_guarded(ctxprop_leak_guard{comma}{args}):
    async with run_server_async(stubborn, stop_timeout=0.3):
        pass


{mark}
async def test_after({args}):
    await asyncio.sleep(0)
{extra}
"""

MODES = {
    "pytest-asyncio": dict(mark="@pytest.mark.asyncio", args="", comma="", extra="", plugins=()),
    "anyio-asyncio": dict(
        mark="@pytest.mark.anyio",
        args="anyio_backend",
        comma=", ",
        extra="""
@pytest.fixture
def anyio_backend():
    return "asyncio"
""",
        plugins=("-p", "no:asyncio"),
    ),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_session_finishes_after_abandoning_a_stubborn_server(pytester, mode):
    spec = dict(MODES[mode])
    plugins = spec.pop("plugins")
    pytester.makeini(inner_ini(asyncio=mode == "pytest-asyncio"))
    pytester.makepyfile(test_stubborn=INNER.format(**spec))
    result = pytester.runpytest_subprocess(
        *PLUGIN, *plugins, "-p", "no:cacheprovider", "-p", "no:randomly", timeout=INNER_TIMEOUT
    )
    # the plain test passes; the guarded one fails at exit (ServerStopTimeout) and its
    # guard reports the abandoned task; the next test runs: nothing hung
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*ServerStopTimeout*abandoned*"])
    result.stdout.fnmatch_lines(["*LeakError: leaked resources:*", "*asyncio task*ctxprop-server*"])
