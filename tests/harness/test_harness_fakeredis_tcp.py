"""The fake Redis over TCP (the harness's fake backend, the reference queue's embedded server)
answers as a real Redis would where clients depend on it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pytest_ctxprop.harness.fakeredis_tcp import tcp_fake_server

pytestmark = pytest.mark.usefixtures("ctxprop_leak_guard")


@pytest.fixture
def server() -> Iterator[Any]:
    server = tcp_fake_server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.close_connections()
    thread.join()


def test_client_info_writes_addresses_as_redis_does(server: Any) -> None:
    """rq's worker reads its own ``addr`` from CLIENT INFO at start; redis-py must parse it."""
    host, port = server.server_address[:2]
    client = redis.Redis(host=host, port=port)
    try:
        info = client.client_info()
    finally:
        client.close()
    assert info["laddr"] == f"{host}:{port}"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", info["addr"]), info  # fakeredis: "('127.0.0.1',"


def test_a_client_is_served_and_no_connection_outlives_the_server(server: Any) -> None:
    """The leak guard sees every connection thread end with the fixture."""
    host, port = server.server_address[:2]
    client = redis.Redis(host=host, port=port)
    client.set("k", "v")
    assert client.get("k") == b"v"
    client.close()
