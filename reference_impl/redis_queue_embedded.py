"""The embedded backend of the Redis queue: fakeredis behind a TCP port, nothing to install.

Worker processes reach it over TCP like any Redis.  One server per process,
started on first use and serving until the process exits; queues keep apart by
key prefix.
"""

from __future__ import annotations

import threading

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
            from pytest_ctxprop.harness.fakeredis_tcp import tcp_fake_server

            apply_blocking_patch()
            server = tcp_fake_server()  # replies at once, CLIENT INFO as Redis writes it
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
