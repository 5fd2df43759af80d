"""run_server (server on its own loop in a thread) and the ctxprop_server fixture factory."""

from __future__ import annotations

import asyncio
import socket
import threading

import harness_broken as broken
import pytest
from harness_inner_runs import PLUGIN

from pytest_ctxprop import ServerStartTimeout, run_server

pytestmark = pytest.mark.usefixtures("ctxprop_leak_guard")


class BootError(Exception):
    pass


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


async def _echo_thread_name(ready):
    async def handle(reader, writer):
        writer.write(threading.current_thread().name.encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, ready.host, ready.port)
    ready(server.sockets[0].getsockname())
    async with server:
        await server.serve_forever()


def test_H1_sync_variant_yields_a_reachable_server_on_its_own_thread():
    with run_server(_echo_thread_name) as address:
        with socket.create_connection((address.host, address.port), timeout=5) as conn:
            name = conn.recv(100).decode()
        assert name.startswith("ctxprop-server")
        assert name != threading.current_thread().name
    assert not _accepts(address.port)


def test_H3_sync_variant_reraises_server_exception_in_caller():
    async def dies(ready):
        raise BootError("no config")

    with pytest.raises(BootError, match="no config"), run_server(dies, ready_timeout=60):
        pytest.fail("must not yield")


def test_H2_sync_variant_start_timeout():
    async def never(ready):
        await asyncio.Event().wait()

    with pytest.raises(ServerStartTimeout, match=r"0\.2 s"), run_server(never, ready_timeout=0.2):
        pytest.fail("must not yield")


def test_H4_sync_variant_stops_a_server_that_swallows_one_cancellation():
    state = broken.ServerState()
    with run_server(broken.stubborn_server(state), stop_timeout=2.0) as address:
        assert _accepts(address.port)
    assert not _accepts(address.port)


def test_fixture_factory_starts_and_stops_servers(ctxprop_server):
    first = ctxprop_server(_echo_thread_name)
    second = ctxprop_server(_echo_thread_name)
    assert first.port != second.port
    assert _accepts(first.port)
    assert _accepts(second.port)


def test_fixture_factory_stops_everything_at_teardown(hpytester):
    hpytester.makepyfile(
        """
        import asyncio, socket

        PORTS = []

        async def serve(ready):
            server = await asyncio.start_server(lambda r, w: w.close(), ready.host, ready.port)
            ready(server.sockets[0].getsockname())
            async with server:
                await server.serve_forever()

        def test_start(ctxprop_leak_guard, ctxprop_server):  # guard first: checked last
            PORTS.append(ctxprop_server(serve).port)

        def test_stopped():
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", PORTS[0])) != 0
        """
    )
    result = hpytester.runpytest_inprocess(*PLUGIN, "-p", "no:randomly")
    result.assert_outcomes(passed=2)
