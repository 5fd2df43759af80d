"""The embedded backend of the Redis queue: fakeredis behind a TCP port, nothing to install.

Worker processes reach it over TCP like any Redis.  One server per process,
started on first use and serving until the process exits; queues keep apart by
key prefix.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

__all__ = ["embedded_redis_url"]

_embedded_lock = threading.Lock()
_embedded_url: str | None = None


def embedded_redis_url() -> str:
    """The URL of this process's fakeredis TCP server, started on first use (nothing to install).

    One server per process, on a free loopback port, so worker processes reach
    it; callers keep apart by key prefix.  It serves until the process exits.
    """
    global _embedded_url
    with _embedded_lock:
        if _embedded_url is None:
            from pytest_ctxprop.harness.fakeredis_blocking import apply_blocking_patch

            apply_blocking_patch()
            server = _no_delay_server()
            server.daemon_threads = True
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="ctxprop-queue-fakeredis",
                daemon=True,
            )
            thread.start()
            host, port = server.server_address[:2]
            _embedded_url = f"redis://{host}:{port}/0"
        return _embedded_url


def _no_delay_server() -> Any:
    """A fakeredis TCP server whose replies are sent at once (TCP_NODELAY).

    fakeredis writes each reply of a pipeline on its own; with Nagle's algorithm
    on, every MULTI/EXEC then waits out the peer's delayed ACK (~40 ms).
    """
    from fakeredis import TcpFakeServer

    class NoDelayServer(TcpFakeServer):
        def get_request(self) -> tuple[socket.socket, Any]:
            sock, address = super().get_request()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, address

    return NoDelayServer(("127.0.0.1", 0))
