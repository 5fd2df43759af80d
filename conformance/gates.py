"""Gates and signals that work across every boundary the suite measures.

A task may run in a thread, on the caller's event loop, on another loop, or in
another process (reached through a broker that serializes arguments as JSON),
so synchronisation cannot use ``threading.Event`` or ``asyncio.Event``.  Both
primitives here are a loopback listener owned by the caller (the suite); the
task side only connects.  What a task is given is a plain string, its *address*
(``ctxprop-gate://127.0.0.1:49037/10.0/F2%20task%20held...``): it carries the
port, the bound of the wait and the step it belongs to, and survives pickle and
JSON alike.  Every wait is bounded, and a timeout names the step and the bound.

* a gate: the caller opens it, tasks wait on it (hold a task after submit).
* a signal: a task fires it, the caller waits on it (know a task runs).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
from dataclasses import dataclass
from urllib.parse import quote, unquote

_HOST = "127.0.0.1"
_SCHEME = "ctxprop-gate://"
#: what a non-blocking connect returns while it is under way (POSIX, then Windows)
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, getattr(errno, "WSAEWOULDBLOCK", -1)}


class GateTimeout(TimeoutError):
    """A gate or signal was not reached within its bound."""


class GateClosed(Exception):
    """The caller closed a gate without opening it: the check ended, the task is abandoned."""


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((_HOST, 0))
    sock.listen(128)
    return sock


@dataclass(frozen=True)
class Endpoint:
    """The task side of a gate or signal, parsed from its address string."""

    host: str
    port: int
    timeout: float
    step: str

    @classmethod
    def parse(cls, address: str) -> Endpoint:
        if not isinstance(address, str) or not address.startswith(_SCHEME):
            raise ValueError(f"not a ctxprop gate address: {address!r}")
        hostport, timeout, step = address[len(_SCHEME) :].split("/", 2)
        host, port = hostport.rsplit(":", 1)
        return cls(host, int(port), float(timeout), unquote(step))

    def address(self) -> str:
        return f"{_SCHEME}{self.host}:{self.port}/{self.timeout:g}/{quote(self.step)}"

    def timed_out(self, what: str) -> GateTimeout:
        return GateTimeout(f"{self.step}: {what} within {self.timeout:g}s")


def wait_sync(address: str) -> None:
    """Block the calling thread until the gate at ``address`` opens (bounded)."""
    end = Endpoint.parse(address)
    try:
        with socket.create_connection((end.host, end.port), timeout=end.timeout) as conn:
            data = conn.recv(1)
    except TimeoutError as exc:
        raise end.timed_out("the gate was not opened") from exc
    except OSError:  # refused or reset: the owner closed the gate
        data = b""
    if data != b"1":
        raise GateClosed(f"{end.step}: the check ended before the gate opened")


async def wait_async(address: str) -> None:
    """Wait without blocking the event loop the task runs on (asyncio or trio)."""
    import anyio

    end = Endpoint.parse(address)
    try:
        with anyio.fail_after(end.timeout):
            with await _connect_async(end) as conn:
                await _wait_readable(conn)
                data = conn.recv(1)
    except TimeoutError as exc:
        raise end.timed_out("the gate was not opened") from exc
    except OSError:  # refused or reset: the owner closed the gate
        data = b""
    if data != b"1":
        raise GateClosed(f"{end.step}: the check ended before the gate opened")


def fire_sync(address: str) -> None:
    """Tell the caller this task has reached the signal's point."""
    end = Endpoint.parse(address)
    try:
        with socket.create_connection((end.host, end.port), timeout=end.timeout) as conn:
            conn.sendall(b"1")
    except OSError as exc:
        raise end.timed_out("the caller could not be signalled") from exc


async def fire_async(address: str) -> None:
    import anyio

    end = Endpoint.parse(address)
    try:
        with anyio.fail_after(end.timeout):
            with await _connect_async(end) as conn:
                conn.send(b"1")  # one byte on a fresh connection: never blocks
    except (TimeoutError, OSError) as exc:
        raise end.timed_out("the caller could not be signalled") from exc


async def _connect_async(end: Endpoint) -> socket.socket:
    """A connected socket this module owns, closed whatever cancels the connect.

    Not ``anyio.connect_tcp``: on Python 3.10 a task cancelled while it connects
    could leave the stream's transport unclosed (seen as an unraisable
    ResourceWarning in a later test when the task was cancelled in I5).
    """
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        conn.setblocking(False)
        err = conn.connect_ex((end.host, end.port))
        if err in _IN_PROGRESS:
            await _wait_writable(conn)
            err = conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
    except BaseException:
        conn.close()
        raise
    return conn


async def _wait_readable(conn: socket.socket) -> None:
    import anyio

    # anyio 4.7 renamed these; the old names warn there
    await (getattr(anyio, "wait_readable", None) or anyio.wait_socket_readable)(conn)


async def _wait_writable(conn: socket.socket) -> None:
    import anyio

    await (getattr(anyio, "wait_writable", None) or anyio.wait_socket_writable)(conn)


class GateOwner:
    """The caller side of a gate: a listener that releases waiters once opened."""

    def __init__(self, step: str, timeout: float) -> None:
        self._sock = _listen()
        host, port = self._sock.getsockname()
        self.endpoint = Endpoint(host, port, timeout, step)
        self.address = self.endpoint.address()
        self.opened = False
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def open(self) -> None:
        """Release every task waiting now and every task that waits later."""
        if self._thread is None:
            self.opened = True
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
        """Stop listening: tasks still waiting get :class:`GateClosed` at once."""
        self._closed.set()
        with contextlib.suppress(OSError):  # not connected: nothing to shut down
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class SignalOwner:
    """The caller side of a signal."""

    def __init__(self, step: str, timeout: float) -> None:
        self._sock = _listen()
        host, port = self._sock.getsockname()
        self.endpoint = Endpoint(host, port, timeout, step)
        self.address = self.endpoint.address()

    def wait(self, timeout: float) -> None:
        """Block until one task has fired the signal."""
        self._sock.settimeout(max(timeout, 0.001))
        try:
            conn, _ = self._sock.accept()
        except OSError as exc:
            raise GateTimeout(
                f"{self.endpoint.step}: the task did not signal within {timeout:g}s"
            ) from exc
        with conn:
            conn.settimeout(max(timeout, 0.001))
            if conn.recv(1) != b"1":
                raise GateTimeout(f"{self.endpoint.step}: the signal's connection closed early")

    def fired_now(self) -> bool:
        """Whether a task has fired the signal already (no waiting).

        A firing task's connect completes before it goes on, so once its worker
        has reported back, a fired signal is already queued here.
        """
        self._sock.setblocking(False)
        try:
            conn, _ = self._sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self) -> None:
        self._sock.close()
