"""run_server_async under trio (through anyio's pytest plugin): H1-H4 with trio's own primitives."""

from __future__ import annotations

import contextvars

import pytest

from pytest_ctxprop import ServerStartError, ServerStartTimeout, run_server_async

trio = pytest.importorskip("trio")

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("ctxprop_leak_guard")]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")
SAFETY = 5.0  # seconds: a hang guard for checks that a broken fixture would make hang


@pytest.fixture
def anyio_backend():
    return "trio"


class BootError(Exception):
    pass


def greeter(seen: list[str] | None = None):
    async def serve(ready):
        async def handle(stream):
            await stream.send_all(REQUEST_ID.get().encode())
            await stream.aclose()

        listeners = await trio.open_tcp_listeners(ready.port, host=ready.host)
        if seen is not None:
            seen.append(REQUEST_ID.get())
        ready(listeners[0].socket.getsockname())
        await trio.serve_listeners(handle, listeners)

    return serve


async def _read(address) -> bytes:
    stream = await trio.open_tcp_stream(address.host, address.port)
    async with stream:
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
    return data


async def test_H1_trio_server_is_reachable_and_sees_the_callers_context():
    REQUEST_ID.set("req-7")
    seen: list[str] = []
    async with run_server_async(greeter(seen)) as address:
        assert address.port != 0
        assert await _read(address) == b"req-7"
    assert seen == ["req-7"]
    with pytest.raises(OSError):
        await trio.open_tcp_stream(address.host, address.port)


async def test_H2_trio_no_readiness_times_out():
    async def never_ready(ready):
        await trio.sleep_forever()

    with trio.fail_after(0.3 + SAFETY), pytest.raises(ServerStartTimeout, match=r"0\.3 s"):
        async with run_server_async(never_ready, ready_timeout=0.3):
            pytest.fail("must not yield")


@pytest.mark.parametrize("later", [False, True], ids=["at-once", "after-a-checkpoint"])
async def test_H3_trio_server_exception_is_raised_promptly(later):
    async def dies(ready):
        if later:
            await trio.lowlevel.checkpoint()
        raise BootError("bad config")

    with trio.fail_after(SAFETY), pytest.raises(BootError, match="bad config"):
        async with run_server_async(dies, ready_timeout=60):
            pytest.fail("must not yield")


async def test_H3_trio_server_returning_before_ready_is_an_error():
    async def returns(ready):
        return None

    with pytest.raises(ServerStartError, match="ended before it was ready"):
        async with run_server_async(returns):
            pytest.fail("must not yield")


async def test_H4_trio_server_that_swallows_one_cancellation_still_stops_in_bound():
    swallowed: list[bool] = []

    async def stubborn(ready):
        listeners = await trio.open_tcp_listeners(0, host=ready.host)
        ready(listeners[0].socket.getsockname())
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            swallowed.append(True)
        try:
            await trio.sleep_forever()  # trio cancels again at the next checkpoint
        finally:
            for listener in listeners:
                await listener.aclose()

    with trio.fail_after(1.0 + SAFETY):
        async with run_server_async(stubborn, stop_timeout=1.0):
            pass
    assert swallowed == [True]


async def test_H4_trio_crash_after_ready_is_raised_at_exit():
    crash = trio.Event()

    async def serve(ready):
        listeners = await trio.open_tcp_listeners(0, host=ready.host)
        ready(listeners[0].socket.getsockname())
        try:
            await crash.wait()
            raise BootError("crashed mid-test")
        finally:
            for listener in listeners:
                listener.socket.close()  # no checkpoint: a pending cancel must not mask it

    async def crash_while_running() -> None:
        async with run_server_async(serve):
            crash.set()
            await trio.lowlevel.checkpoint()

    with pytest.raises(BootError, match="mid-test"):
        await crash_while_running()


async def test_trio_server_object_with_wait_until_ready():
    class Server:
        def __init__(self) -> None:
            self.started = trio.Event()
            self.address = None

        async def serve(self):
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            self.address = listeners[0].socket.getsockname()
            self.started.set()
            await trio.serve_listeners(lambda stream: stream.aclose(), listeners)

        async def wait_until_ready(self):
            await self.started.wait()
            return self.address

    server = Server()
    async with run_server_async(server) as address:
        assert (address.host, address.port) == server.address[:2]


async def test_asyncio_only_targets_are_refused_plainly_under_trio():
    async def asgi(scope, receive, send):
        pass

    with pytest.raises(TypeError, match="asyncio-only"):
        async with run_server_async(asgi):
            pass
