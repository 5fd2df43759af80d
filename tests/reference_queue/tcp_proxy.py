"""A loopback TCP proxy a test can cut: connection loss between a client and Redis, on demand."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class CuttableProxy:
    """Forwards 127.0.0.1:port to ``upstream``; ``cut()`` drops every connection and refuses
    new ones until ``restore()``; ``cut_before(marker)`` drops a connection instead of
    forwarding the client chunk that holds ``marker`` (e.g. b"EXEC")."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._down = False
        self._marker: bytes | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        #: set when a client tried to connect while the proxy was cut
        self.refused = threading.Event()
        self._closed = False
        self._accepting = self._spawn(self._accept)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self, target: object, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)
        return thread

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._down:
                self.refused.set()
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets |= {client, server}
            self._spawn(self._pump, client, server, True)
            self._spawn(self._pump, server, client, False)

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self._marker is not None and self._marker in data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        self._down = True
        self.refused.clear()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._drop(sock)

    def restore(self) -> None:
        self._down = False

    def cut_before(self, marker: bytes) -> None:
        self._marker = marker

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> CuttableProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
