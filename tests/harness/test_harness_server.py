"""run_server_async (H1-H5): each check passes on the real fixture and catches a broken one."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import harness_broken as broken
import pytest

from pytest_ctxprop import (
    ServerAddress,
    ServerStartError,
    ServerStartTimeout,
    ServerStopTimeout,
    run_server_async,
)
from pytest_ctxprop.harness.ports import PortTimeoutError
from pytest_ctxprop.harness.server import ABANDONED

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("ctxprop_leak_guard")]

SAFETY = 1.5  # safety net (s) for checks that a broken fixture would make hang


def _accepts(address: ServerAddress) -> bool:
    try:
        socket.create_connection((address.host, address.port), timeout=1).close()
    except OSError:
        return False
    return True


def _other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def _open_after_spins(gate: asyncio.Event, spins: int = 200) -> None:
    """Open ``gate`` after many loop iterations: later than any 'sleep a bit' start-up."""
    for _ in range(spins):
        await _REAL_SLEEP(0)
    gate.set()


_REAL_SLEEP = asyncio.sleep


# --- H1 -------------------------------------------------------------------------------


async def check_h1(impl: Any, monkeypatch: pytest.MonkeyPatch, *, lie: bool) -> None:
    """At yield: readiness fired, port accepts, and nothing slept a fixed time.

    Sleeps are compressed (they return at once and are recorded), so a fixture
    that sleeps instead of waiting yields before the gated server is up.
    """
    slept: list[float] = []

    async def compressed_sleep(delay: float, result: Any = None) -> Any:
        slept.append(delay)
        return await _REAL_SLEEP(0, result)

    monkeypatch.setattr(asyncio, "sleep", compressed_sleep)
    state, gate = broken.ServerState(), asyncio.Event()
    opener = asyncio.ensure_future(_open_after_spins(gate))
    try:
        async with impl(broken.gated_server(state, gate, lie=lie)) as address:
            assert state.ready_called, "yielded before the server signalled readiness"
            assert _accepts(address), f"yielded {address} before it accepted connections"
            assert address.port == state.bound_port
    finally:
        gate.set()
        await opener
    assert not [d for d in slept if d >= 0.05], f"fixed sleeps during start-up: {slept}"


@pytest.mark.parametrize("lie", [False, True], ids=["honest", "ready-before-listen"])
async def test_H1_real_fixture_waits_for_readiness_and_port(monkeypatch, lie):
    await check_h1(run_server_async, monkeypatch, lie=lie)


@pytest.mark.parametrize(
    ("impl", "lie"),
    [(broken.fixed_sleep, False), (broken.readiness_only, True)],
    ids=["H1-broken-fixed-sleep", "H1-broken-no-port-probe"],
)
async def test_H1_check_catches_broken_fixture(monkeypatch, impl, lie):
    with pytest.raises(AssertionError):
        await check_h1(impl, monkeypatch, lie=lie)


# --- H2 (start-up side; the probe itself is in test_harness_ports) ----------------------


async def test_H2_no_readiness_times_out_naming_address_and_bound():
    async def never_ready(ready):
        await asyncio.Event().wait()

    with pytest.raises(ServerStartTimeout, match=r"127\.0\.0\.1:0.*0\.2 s"):
        async with run_server_async(never_ready, ready_timeout=0.2):
            pytest.fail("must not yield")
    assert not _other_tasks()


async def test_H2_ready_but_never_listening_times_out_in_port_probe():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def ready_not_listening(ready):
        ready("127.0.0.1", port)
        await asyncio.Event().wait()

    try:
        with pytest.raises(PortTimeoutError, match=rf"127\.0\.0\.1:{port}.*0\.3 s"):
            async with run_server_async(ready_not_listening, ready_timeout=0.3):
                pytest.fail("must not yield")
    finally:
        sock.close()


# --- H3 -------------------------------------------------------------------------------


class BootError(Exception):
    pass


async def _dies_at_once(ready):
    raise BootError("bad config")


async def _dies_after_awaiting(ready):
    await _REAL_SLEEP(0)
    raise BootError("bad config")


async def check_h3(impl: Any, server: Any) -> None:
    """The server's own exception, promptly (well inside a 60 s start-up bound)."""

    async def enter() -> None:
        async with impl(server, ready_timeout=60):
            pytest.fail("a dead server must not yield")

    try:
        await asyncio.wait_for(enter(), SAFETY)
    except BootError:
        return
    except asyncio.TimeoutError:
        raise AssertionError("hung waiting for a server that had died") from None
    raise AssertionError("the server's exception was not raised")


@pytest.mark.parametrize("server", [_dies_at_once, _dies_after_awaiting], ids=["at-once", "later"])
async def test_H3_real_fixture_raises_server_exception(server):
    await check_h3(run_server_async, server)
    assert not _other_tasks()


async def test_H3_check_catches_unbounded_wait():
    with pytest.raises(AssertionError, match="hung"):
        await check_h3(broken.unbounded_wait, _dies_at_once)


async def test_H3_server_returning_before_ready_is_an_error():
    async def returns(ready):
        return None

    with pytest.raises(ServerStartError, match="ended before it was ready"):
        async with run_server_async(returns):
            pytest.fail("must not yield")


# --- H4 -------------------------------------------------------------------------------


async def check_h4(impl: Any) -> None:
    """Teardown of a server that swallows a cancellation returns within its bound, leak-free."""
    state = broken.ServerState()
    before = _other_tasks()

    async def run() -> ServerAddress:
        async with impl(broken.stubborn_server(state), stop_timeout=1.0) as address:
            assert _accepts(address)
        return address

    try:
        address = await asyncio.wait_for(run(), 1.0 + SAFETY)
    except asyncio.TimeoutError:
        raise AssertionError("teardown did not return within its bound") from None
    assert not (_other_tasks() - before), "server task leaked"
    assert not _accepts(address), "listening socket leaked"


async def test_H4_real_fixture_stops_stubborn_server():
    await check_h4(run_server_async)


async def test_H4_check_catches_unbounded_teardown():
    with pytest.raises(AssertionError, match="within its bound"):
        await check_h4(broken.unbounded_teardown)


async def test_H4_server_ignoring_every_cancellation_is_abandoned_within_bound():
    state = broken.ServerState()
    server = broken.stubborn_server(state, forever=True)
    before = set(ABANDONED)

    async def start_and_stop() -> None:
        async with run_server_async(server, stop_timeout=0.3):
            pass

    start = time.monotonic()
    with pytest.raises(ServerStopTimeout, match=r"swallows cancellation.*abandoned"):
        await start_and_stop()
    elapsed = time.monotonic() - start
    abandoned = set(ABANDONED) - before
    assert len(abandoned) == 1, "the stubborn task should be kept as abandoned"
    assert not _other_tasks() & abandoned, "off the loop's task list: its teardown won't wait"
    state.escape.set()  # let the test clean up what the fixture had to give up on
    await asyncio.wait(abandoned)
    ABANDONED[:] = [t for t in ABANDONED if t not in abandoned]
    assert elapsed < 0.3 + SAFETY


async def test_H4_server_crash_after_ready_is_raised_at_exit():
    crash = asyncio.Event()

    async def serve(ready):
        server = await asyncio.start_server(broken._drop, ready.host, ready.port)
        ready(server.sockets[0].getsockname())
        async with server:
            await crash.wait()
            raise BootError("crashed mid-test")

    async def crash_while_running() -> None:
        async with run_server_async(serve):
            crash.set()
            await asyncio.wait({t for t in _other_tasks() if t.get_name().startswith("ctxprop")})

    with pytest.raises(BootError, match="mid-test"):
        await crash_while_running()


# --- H5 -------------------------------------------------------------------------------


def squatting(target: Any, squatters: list[socket.socket]) -> Any:
    """Wrap a serve(ready) so that another 'process' takes any fixed port before it binds."""

    async def serve(ready):
        if ready.port:
            squatter = socket.socket()
            squatter.bind((ready.host, ready.port))
            squatter.listen()
            squatters.append(squatter)
        await target(ready)

    return serve


async def check_h5(impl: Any, runs: int = 5) -> None:
    """Port 0 in, the real bound port out through readiness, no race window to lose."""
    for _ in range(runs):
        state, gate = broken.ServerState(), asyncio.Event()
        gate.set()
        squatters: list[socket.socket] = []
        try:
            async with impl(squatting(broken.gated_server(state, gate), squatters)) as address:
                assert state.requested_port == 0, "server was not asked to bind port 0"
                assert address.port == state.bound_port != 0
        except OSError as exc:
            raise AssertionError(f"lost the find-then-bind race: {exc}") from exc
        finally:
            for squatter in squatters:
                squatter.close()


async def test_H5_real_fixture_reports_kernel_chosen_port():
    await check_h5(run_server_async)


async def test_H5_check_catches_find_then_bind():
    with pytest.raises(AssertionError):
        await check_h5(broken.find_then_bind)


# --- other readiness protocols ----------------------------------------------------------


class EventServer:
    """A server object with ``serve()`` and an ``asyncio.Event`` ``ready``."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.address: tuple[str, int] | None = None

    async def serve(self) -> None:
        server = await asyncio.start_server(broken._drop, "127.0.0.1", 0)
        self.address = server.sockets[0].getsockname()
        self.ready.set()
        async with server:
            await server.serve_forever()


class WaitableServer(EventServer):
    """A server object with an awaitable ``wait_until_ready()`` returning its address."""

    async def wait_until_ready(self) -> tuple[str, int]:
        await self.ready.wait()
        assert self.address is not None
        return self.address


@pytest.mark.parametrize("server_cls", [EventServer, WaitableServer])
async def test_H5_server_objects_report_their_address(server_cls):
    server = server_cls()
    async with run_server_async(server) as address:
        assert (address.host, address.port) == server.address[:2]
        assert _accepts(address)


async def _asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


async def test_H1_asgi_app_served_by_uvicorn():
    async with run_server_async(_asgi_app) as address:
        assert address.port != 0
        reader, writer = await asyncio.open_connection(address.host, address.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        body = await reader.read()
        writer.close()
        await writer.wait_closed()
    assert body.startswith(b"HTTP/1.1 200")
    assert b"\r\nhello\r\n" in body
    assert not _accepts(address)


async def _lifespan_fails_with_message(scope, receive, send):
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})


async def _lifespan_raises(scope, receive, send):
    await receive()
    raise BootError("no database")


async def _lifespan_reports_and_raises(scope, receive, send):  # what Starlette does
    await receive()
    try:
        raise BootError("no database")
    except BootError:
        await send({"type": "lifespan.startup.failed", "message": "Traceback ..."})
        raise


@pytest.mark.parametrize(
    "app", [_lifespan_raises, _lifespan_reports_and_raises], ids=["raises", "reports-and-raises"]
)
async def test_H3_asgi_lifespan_startup_raises_the_apps_own_exception(app):
    with pytest.raises(BootError, match="no database"):
        async with run_server_async(app, ready_timeout=60):
            pytest.fail("must not yield")


async def test_H3_asgi_lifespan_failure_message_is_an_error_not_an_exit():
    with pytest.raises(ServerStartError, match="lifespan startup failed: no database"):
        async with run_server_async(_lifespan_fails_with_message):
            pytest.fail("must not yield")


async def test_asgi_app_without_lifespan_support_is_served():
    async def http_only(scope, receive, send):
        assert scope["type"] == "http", "no lifespan here"
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with run_server_async(http_only) as address:
        assert _accepts(address)


async def test_rejects_unknown_targets():
    with pytest.raises(TypeError, match="cannot start"):
        async with run_server_async(object()):
            pass
