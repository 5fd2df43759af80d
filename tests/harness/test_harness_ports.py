"""wait_for_port (H2): a bounded probe naming host:port and T; an unbounded one is caught."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Iterator

import pytest

from pytest_ctxprop import PortTimeoutError, wait_for_port, wait_for_port_sync

pytestmark = pytest.mark.usefixtures("ctxprop_leak_guard")

T = 0.3
INTERVAL = 0.05
MARGIN = 1.0  # generous slack on "within T plus one poll interval" so CI never flakes


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections for the whole test: bound, never listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A port whose connects hang: a listener with a full accept queue (SYNs are dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(2):  # backlog 0 still queues one connection on Linux; fill it
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


async def _unbounded_probe(host: str, port: int, timeout: float, interval: float) -> None:
    """H2 broken: retry forever, ignoring the timeout."""
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(interval)
        else:
            writer.close()
            return


async def check_h2(probe, port: int) -> None:
    """The probe raises PortTimeoutError naming host:port and T, within T + one interval."""
    start = time.monotonic()
    try:
        await asyncio.wait_for(probe("127.0.0.1", port, T, INTERVAL), T + INTERVAL + MARGIN)
    except PortTimeoutError as exc:
        error = exc
    except asyncio.TimeoutError:
        raise AssertionError("probe ignored its timeout") from None
    else:
        raise AssertionError("probe reported a port that never opened as open")
    elapsed = time.monotonic() - start
    assert f"127.0.0.1:{port}" in str(error)
    assert f"{T:g} s" in str(error)
    assert (error.host, error.port, error.timeout) == ("127.0.0.1", port, T)
    assert elapsed + 0.01 >= T
    assert elapsed <= T + INTERVAL + MARGIN


@pytest.mark.asyncio
async def test_H2_real_probe_times_out_on_refused_port(closed_port):
    await check_h2(wait_for_port, closed_port)


@pytest.mark.skipif(sys.platform != "linux", reason="SYN-drop on a full backlog is Linux behaviour")
@pytest.mark.asyncio
async def test_H2_real_probe_bounds_a_hanging_connect(hanging_port):
    await check_h2(wait_for_port, hanging_port)


@pytest.mark.asyncio
async def test_H2_check_catches_unbounded_probe(closed_port):
    with pytest.raises(AssertionError, match="ignored its timeout"):
        await check_h2(_unbounded_probe, closed_port)


def test_H2_sync_probe_times_out_naming_address(closed_port):
    start = time.monotonic()
    with pytest.raises(PortTimeoutError, match=rf"127\.0\.0\.1:{closed_port}.*{T:g} s"):
        wait_for_port_sync("127.0.0.1", closed_port, T, INTERVAL)
    assert time.monotonic() - start <= T + INTERVAL + MARGIN


@pytest.mark.skipif(sys.platform != "linux", reason="SYN-drop on a full backlog is Linux behaviour")
def test_H2_sync_probe_bounds_a_hanging_connect(hanging_port):
    start = time.monotonic()
    with pytest.raises(PortTimeoutError):
        wait_for_port_sync("127.0.0.1", hanging_port, T, INTERVAL)
    assert time.monotonic() - start <= T + INTERVAL + MARGIN


def test_probe_returns_for_listening_port():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        wait_for_port_sync("127.0.0.1", listener.getsockname()[1], 5.0)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_async_probe_runs_on_asyncio_and_trio(anyio_backend, closed_port):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        await wait_for_port("127.0.0.1", listener.getsockname()[1], 5.0)
    with pytest.raises(PortTimeoutError):
        await wait_for_port("127.0.0.1", closed_port, 0.1, 0.02)


@pytest.mark.parametrize(("timeout", "interval"), [(-1, 0.1), (1, 0)])
def test_rejects_nonsense_bounds(timeout, interval):
    with pytest.raises(ValueError, match="must be"):
        wait_for_port_sync("127.0.0.1", 1, timeout, interval)
