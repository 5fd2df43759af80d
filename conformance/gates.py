"""Gates and signals that work across every boundary the suite measures.

A task may run in a thread, on the caller's event loop, on another loop, or in
another process, so synchronisation cannot use ``threading.Event`` or
``asyncio.Event``.  Both primitives here are a loopback listener owned by the
caller (the suite); the task side only connects, which works from anywhere and
pickles as ``(host, port)``.  Every wait is bounded.

* :class:`Gate`: the caller opens it, tasks wait on it (hold a task at submit).
* :class:`Signal`: a task fires it, the caller waits on it (know a task runs).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

_HOST = "127.0.0.1"


class GateTimeout(TimeoutError):
    """A gate or signal was not reached in time: the harness cannot decide."""


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((_HOST, 0))
    sock.listen(128)
    return sock


class _Endpoint:
    """The picklable task side: an address to connect to."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.address,))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address[0]}:{self.address[1]}>"


class Gate(_Endpoint):
    """Holds tasks until the caller opens it."""

    @classmethod
    def create(cls) -> GateOwner:
        return GateOwner()

    def wait_sync(self, timeout: float) -> None:
        """Block the calling thread until the gate is open."""
        with socket.create_connection(self.address, timeout=timeout) as conn:
            try:
                data = conn.recv(1)
            except OSError as exc:
                raise GateTimeout(f"gate {self.address} not opened within {timeout}s") from exc
        if data != b"1":
            raise GateTimeout(f"gate {self.address} closed before it opened")

    async def wait_async(self, timeout: float) -> None:
        """Wait without blocking the event loop the task runs on (asyncio or trio)."""
        import anyio

        with anyio.fail_after(timeout):
            async with await anyio.connect_tcp(*self.address) as stream:
                data = await stream.receive(1)
        if data != b"1":
            raise GateTimeout(f"gate {self.address} closed before it opened")


class GateOwner:
    """The caller side of a :class:`Gate`: a listener that releases waiters on open."""

    def __init__(self) -> None:
        self._sock = _listen()
        self.gate = Gate(self._sock.getsockname())
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def open(self) -> None:
        """Release every task waiting now and every task that waits later."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._release, daemon=True, name="ctxprop-gate")
            self._thread.start()

    def _release(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"1")

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):  # not connected: nothing to shut down
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Signal(_Endpoint):
    """Fired by a task to tell the caller it has reached a point."""

    @classmethod
    def create(cls) -> SignalOwner:
        return SignalOwner()

    def fire_sync(self, timeout: float = 10.0) -> None:
        with socket.create_connection(self.address, timeout=timeout) as conn:
            conn.sendall(b"1")

    async def fire_async(self, timeout: float = 10.0) -> None:
        import anyio

        with anyio.fail_after(timeout):
            async with await anyio.connect_tcp(*self.address) as stream:
                await stream.send(b"1")


class SignalOwner:
    """The caller side of a :class:`Signal`."""

    def __init__(self) -> None:
        self._sock = _listen()
        self.signal = Signal(self._sock.getsockname())

    def wait(self, timeout: float) -> None:
        """Block until one task has fired the signal."""
        self._sock.settimeout(timeout)
        try:
            conn, _ = self._sock.accept()
        except OSError as exc:
            raise GateTimeout(f"signal {self.signal.address} not fired within {timeout}s") from exc
        with conn:
            conn.settimeout(timeout)
            if conn.recv(1) != b"1":
                raise GateTimeout(f"signal {self.signal.address} connection closed early")

    def close(self) -> None:
        self._sock.close()
