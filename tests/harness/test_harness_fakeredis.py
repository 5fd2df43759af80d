"""H6: blocking reads on fakeredis block (near-idle CPU) until data or timeout.

The same consumer-loop check runs against the patched fake (must pass), a
fake with upstream's defects re-created (must be caught), and the installed
fake without the patch (the check must agree with the probe).
"""

from __future__ import annotations

import asyncio
import selectors
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import fakeredis
import pytest
from harness_inner_runs import PLUGIN

from pytest_ctxprop.harness import fakeredis_blocking as fb
from pytest_ctxprop.harness.event_loop import run_with_loop_factory

pytestmark = pytest.mark.usefixtures("ctxprop_leak_guard")

# The checks count events, not CPU time: on a loaded machine a spinning reader gets less
# CPU, so a CPU-share bound stops catching it, but it still makes hundreds of calls.
BLOCK = 0.4  # seconds each blocking read may wait
MAX_CALLS = 5  # reads one consumer loop may make while it waits (a blocking read: 1-2)
MAX_WAKEUPS = 12  # event-loop wake-ups tolerated while one async read blocks (a 10 ms poll: ~80)


def _commands(client: Any) -> dict[str, Callable[[float], Any]]:
    """Blocking reads on empty keys, each taking the time left (s)."""
    return {
        "XREAD": lambda t: client.xread({"s": "$"}, block=max(1, int(t * 1000))),
        "XREADGROUP": lambda t: client.xreadgroup(
            "g", "c", {"s": ">"}, count=1, block=max(1, int(t * 1000))
        ),
        "BLPOP": lambda t: client.blpop(["l"], timeout=t),
        "BRPOP": lambda t: client.brpop(["l"], timeout=t),
        "BZPOPMIN": lambda t: client.bzpopmin(["z"], timeout=t),
    }


COMMANDS = ["XREAD", "XREADGROUP", "BLPOP", "BRPOP", "BZPOPMIN"]


class _CountingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    calls = 0

    def select(self, timeout: float | None = None) -> Any:
        self.calls += 1
        return super().select(timeout)


def _consume(read: Callable[[float], Any]) -> tuple[float, float, int]:
    """A worker loop: read until data or BLOCK elapsed. Returns (wall, cpu, calls)."""
    wall0, cpu0, calls = time.monotonic(), time.thread_time(), 0
    while (left := BLOCK - (time.monotonic() - wall0)) > 0.001:
        calls += 1
        if read(left):
            break
    return time.monotonic() - wall0, time.thread_time() - cpu0, calls


def check_h6_sync(command: str) -> None:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        client.xgroup_create("s", "g", id="$", mkstream=True)
        wall, cpu, calls = _consume(_commands(client)[command])
    finally:
        client.close()
    assert wall >= BLOCK * 0.9, f"{command} did not block ({wall:.3f}s)"
    assert calls <= MAX_CALLS, f"{command} spun: {calls} calls in {wall:.3f}s ({cpu:.3f}s CPU)"


def check_h6_async(command: str) -> None:
    selector = _CountingSelector()

    async def main() -> tuple[float, float, int, int]:
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
        try:
            await client.xgroup_create("s", "g", id="$", mkstream=True)
            read = _commands(client)[command]
            wall0, cpu0, wake0, calls = time.monotonic(), time.thread_time(), selector.calls, 0
            while (left := BLOCK - (time.monotonic() - wall0)) > 0.001:
                calls += 1
                if await read(left):
                    break
            return (
                time.monotonic() - wall0,
                time.thread_time() - cpu0,
                selector.calls - wake0,
                calls,
            )
        finally:
            await client.aclose()

    wall, cpu, wakeups, calls = run_with_loop_factory(
        main(), lambda: asyncio.SelectorEventLoop(selector)
    )
    assert wall >= BLOCK * 0.9, f"{command} did not block ({wall:.3f}s)"
    assert calls <= MAX_CALLS, f"{command} spun: {calls} calls in {wall:.3f}s ({cpu:.3f}s CPU)"
    assert wakeups <= MAX_WAKEUPS, f"{command} woke the loop {wakeups} times while blocked"


CHECKS = {"sync": check_h6_sync, "async": check_h6_async}


# --- re-created upstream defects -------------------------------------------------------


@pytest.fixture
def fake_returns_early(monkeypatch: pytest.MonkeyPatch) -> None:
    """fakeredis#453: blocking stream reads reply [] at once instead of waiting."""
    from fakeredis.commands_mixins.streams_mixin import StreamsCommandsMixin

    original = StreamsCommandsMixin._xread

    def returns_early(self: Any, *args: Any, **kwargs: Any) -> Any:
        reply = original(self, *args, **kwargs)
        return {} if reply is None else reply

    monkeypatch.setattr(StreamsCommandsMixin, "_xread", returns_early)


@pytest.fixture
def fake_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """fakeredis#506: the asyncio client polls its reply queue every 10 ms."""
    client = fakeredis.FakeAsyncRedis()
    conn_cls = fb._first_definer(client.connection_pool.connection_class, "can_read")

    async def polling(self: Any, timeout: float | None = 0) -> bool:
        if not self.is_connected:
            await self.connect()
        if timeout == 0:
            return self._sock is not None and not self._sock.responses.empty()
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            if self._sock is not None and not self._sock.responses.empty():
                return True
            await asyncio.sleep(0.01)
            if timeout is not None and loop.time() - start > timeout:
                return False

    monkeypatch.setattr(conn_cls, "can_read", polling)


@pytest.fixture
def unpatched() -> Iterator[None]:
    """Make sure no earlier patch is in force (and none lingers after the test)."""
    assert not fb.is_patched()
    yield
    fb.remove_blocking_patch()


# --- tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_H6_patched_fakeredis_blocks_near_idle(ctxprop_fakeredis_blocking, kind, command):
    if kind == "async" and command == "XREADGROUP" and ctxprop_fakeredis_blocking.left_alone:
        # fakeredis before 2.40: the documented gap is real, and reported as such
        with pytest.raises(AssertionError, match="XREADGROUP"):
            CHECKS[kind](command)
        return
    CHECKS[kind](command)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_H6_check_catches_fake_that_returns_early(unpatched, fake_returns_early, kind):
    assert fb.probe().returns_early
    with pytest.raises(AssertionError, match=r"XREAD spun: \d+ calls"):
        CHECKS[kind]("XREAD")


def test_H6_check_catches_fake_that_polls(unpatched, fake_polls):
    assert fb.probe().polls
    with pytest.raises(AssertionError, match="woke the loop"):
        check_h6_async("BLPOP")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_H6_patch_repairs_early_replies(unpatched, fake_returns_early, kind):
    with fb.blocking_patch() as report:
        assert report.returns_early
        assert any("453" in fix for fix in report.applied)
        CHECKS[kind]("XREAD")


def test_H6_patch_repairs_polling(unpatched, fake_polls):
    with fb.blocking_patch() as report:
        assert report.polls
        assert any("506" in fix for fix in report.applied)
        check_h6_async("BLPOP")


def test_H6_installed_fakeredis_verdict_matches_probe(unpatched):
    """Without the patch, the check fails exactly where the probe says a fix is needed."""
    report = fb.probe()
    for kind, check in CHECKS.items():
        try:
            check("XREADGROUP")
        except AssertionError:
            caught = True
        else:
            caught = False
        assert caught == (report.returns_early or (kind == "async" and report.polls))


def test_H6_patch_installs_exactly_what_the_probe_decided(unpatched):
    """On any fakeredis version: fixes are installed iff the probe saw the defect."""
    decided = fb.probe()
    with fb.blocking_patch() as report:
        assert (report.returns_early, report.polls) == (decided.returns_early, decided.polls)
        assert any("453" in fix for fix in report.applied) == decided.returns_early
        assert any("506" in fix for fix in report.applied) == decided.polls
        assert fb.is_patched() == decided.needed
    assert not fb.is_patched()


@pytest.mark.parametrize("force", [False, True], ids=["as-probed", "forced"])
def test_H6_patch_is_a_noop_where_fakeredis_already_blocks(unpatched, force):
    """Once fixed (by the probe's decision or forced), a second patch finds nothing to do."""
    with fb.blocking_patch(force=force) as outer:
        with fb.blocking_patch() as again:  # now the fake is right: nothing more to do
            assert not again.needed
            assert again.applied == ()
        # the inner context did not remove what the outer one installed
        assert fb.is_patched() == bool(outer.applied)
    assert not fb.is_patched()


def test_H6_decided_report_installs_without_measuring(unpatched, monkeypatch):
    """The fixtures probe once per session and hand the decision on: no second probe."""
    decided = fb.BlockingPatchReport(returns_early=True, polls=True)
    monkeypatch.setattr(fb, "_probe_returns_early", lambda: pytest.fail("measured again"))
    with fb.blocking_patch(decided=decided) as report:
        assert len(report.applied) == 2
        CHECKS["async"]("BLPOP")
    assert not fb.is_patched()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_H6_blocked_read_wakes_on_data(ctxprop_fakeredis_blocking, kind):
    """Until data: a writer on another thread wakes the reader long before its 30 s timeout."""
    server = fakeredis.FakeServer()
    writer = fakeredis.FakeRedis(server=server)
    result: list[Any] = []

    def push() -> None:
        writer.rpush("l", "job")

    if kind == "sync":
        reader = fakeredis.FakeRedis(server=server)
        thread = threading.Thread(target=lambda: result.append(reader.blpop(["l"], timeout=30)))
        thread.start()
        push()
        thread.join(10)
        reader.close()
        assert not thread.is_alive(), "reader never woke"
    else:

        async def main() -> None:
            reader = fakeredis.FakeAsyncRedis(server=server)
            pusher = threading.Thread(target=push)
            read: Awaitable[Any] = reader.blpop(["l"], timeout=30)
            task = asyncio.ensure_future(read)
            pusher.start()
            try:
                result.append(await asyncio.wait_for(task, 10))
            finally:
                pusher.join()
                await reader.aclose()

        run_with_loop_factory(main())
    writer.close()
    assert result == [(b"l", b"job")]


def test_H6_ini_flag_patches_the_session_and_restores_after(unpatched, hpytester):
    from harness_inner_runs import inner_ini

    hpytester.makeini(inner_ini("ctxprop_fakeredis_blocking = true"))
    hpytester.makepyfile(
        """
        import time, fakeredis

        def test_xreadgroup_blocks():
            client = fakeredis.FakeRedis()
            client.xgroup_create("s", "g", id="$", mkstream=True)
            start = time.monotonic()
            client.xreadgroup("g", "c", {"s": ">"}, count=1, block=200)
            assert time.monotonic() - start >= 0.18
            client.close()
        """
    )
    result = hpytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["ctxprop fakeredis blocking: *"])
    assert not fb.is_patched()


def test_H6_cli_twin_of_the_ini_flag_patches_the_session(unpatched, hpytester):
    hpytester.makepyfile("def test_nothing():\n    pass\n")
    result = hpytester.runpytest_inprocess(*PLUGIN, "--ctxprop-fakeredis-blocking")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["ctxprop fakeredis blocking: *"])
    assert not fb.is_patched()
