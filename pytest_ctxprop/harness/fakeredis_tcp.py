"""fakeredis's TCP server, made to look like a real Redis to the clients of a test.

Three differences from ``fakeredis.TcpFakeServer`` as released:

* replies go out at once (TCP_NODELAY): fakeredis writes each reply of a
  pipeline on its own, and with Nagle's algorithm every MULTI/EXEC waits out
  the peer's delayed ACK (~40 ms);
* ``CLIENT INFO`` and ``CLIENT LIST`` write ``addr=host:port`` as Redis does:
  fakeredis records the peer as a tuple (``addr=('127.0.0.1', 51346)``, with a
  space), which redis-py's reply parser cannot split, so rq's worker, which asks
  for its own address at start, fails against it;
* ``close_connections`` ends every connection and joins its thread: in older
  releases (2.33) a connection's thread spins until its client goes away.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

__all__ = ["tcp_fake_server"]

JOIN_TIMEOUT = 5.0  # seconds a connection thread gets to end once told to


class _RedisAddressSocket(socket.socket):
    """A connection whose addresses read ``host:port``, the form of Redis's own CLIENT INFO."""

    def getpeername(self) -> str:  # type: ignore[override]
        host, port = super().getpeername()[:2]
        return f"{host}:{port}"

    def getsockname(self) -> str:  # type: ignore[override]
        host, port = super().getsockname()[:2]
        return f"{host}:{port}"


def tcp_fake_server(address: tuple[str, int] = ("127.0.0.1", 0), **options: Any) -> Any:
    """A ``fakeredis.TcpFakeServer`` on ``address`` (port 0: a free one), as described above.

    ``options`` go to ``TcpFakeServer`` (e.g. ``server_type``).  Serve it with
    ``serve_forever`` on a thread; end it with ``shutdown()`` then ``close_connections()``.
    """
    from fakeredis import TcpFakeServer

    connections: list[tuple[Any, threading.Thread]] = []
    lock = threading.Lock()

    class Server(TcpFakeServer):  # type: ignore[misc]
        def get_request(self) -> tuple[socket.socket, Any]:
            sock, peer = super().get_request()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            wrapped = _RedisAddressSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
            return wrapped, peer

        def close_connections(self) -> None:
            with lock:
                handlers = list(connections)
            for handler, _ in handlers:
                handler.shutdown_request = True  # the loop's own exit flag before 2.34
            self.server_close()
            for _, thread in handlers:
                thread.join(JOIN_TIMEOUT)

    server = Server(address, **options)
    base = server.RequestHandlerClass

    class TrackedHandler(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            with lock:
                connections.append((self, threading.current_thread()))
            super().setup()

    server.RequestHandlerClass = TrackedHandler
    return server
