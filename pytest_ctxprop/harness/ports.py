"""Bounded TCP port probes (H2).

A probe answers one question: does ``host:port`` accept a TCP connection now?
Both variants give up after ``timeout`` seconds, at most one poll interval
late, and say which address and which bound they gave up on, so a server that
never comes up fails the test with a message instead of hanging it.

The async probe runs natively on asyncio or trio (whichever is running, as
sniffio tells); both are imported on first use, never when the plugin loads.
"""

from __future__ import annotations

import socket
import time

__all__ = ["PortTimeoutError", "wait_for_port", "wait_for_port_sync"]


class PortTimeoutError(TimeoutError):
    """``host:port`` did not accept a TCP connection within ``timeout`` seconds."""

    def __init__(
        self, host: str, port: int, timeout: float, last_error: BaseException | None
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.last_error = last_error
        detail = f" (last error: {last_error!r})" if last_error is not None else ""
        super().__init__(
            f"{_hostport(host, port)} did not accept a TCP connection within {timeout:g} s{detail}"
        )


def _hostport(host: str, port: int) -> str:
    """``host:port``, bracketing IPv6 literals so the text is unambiguous."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_args(timeout: float, interval: float) -> None:
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0, got {timeout!r}")
    if interval <= 0:
        raise ValueError(f"interval must be > 0, got {interval!r}")


def _async_library() -> str:
    """``"trio"`` under trio, else ``"asyncio"`` (sniffio comes with anyio)."""
    try:
        import sniffio
    except ImportError:  # pragma: no cover - anyio depends on sniffio
        return "asyncio"
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return "asyncio"


async def _connect_once(library: str, host: str, port: int, timeout: float) -> bool:
    """One connect attempt bounded by ``timeout``: True if it connected (and was closed)."""
    if library == "trio":
        import trio

        with trio.move_on_after(timeout):
            stream = await trio.open_tcp_stream(host, port)
            await stream.aclose()
            return True
        return False
    import asyncio

    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def _sleep(library: str, seconds: float) -> None:
    if library == "trio":
        import trio

        await trio.sleep(seconds)
    else:
        import asyncio

        await asyncio.sleep(seconds)


async def wait_for_port(host: str, port: int, timeout: float = 5.0, interval: float = 0.05) -> None:
    """Wait until ``host:port`` accepts a TCP connection; raise PortTimeoutError after timeout.

    Each connect attempt is itself bounded by the time left, so a connect that
    hangs (a full backlog, a black-holed address) cannot stretch the wait.
    Runs natively on asyncio and on trio.
    """
    _check_args(timeout, interval)
    library = _async_library()
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PortTimeoutError(host, port, timeout, last_error)
        try:
            if await _connect_once(library, host, port, remaining):
                return
        except OSError as exc:
            last_error = exc
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PortTimeoutError(host, port, timeout, last_error)
        await _sleep(library, min(interval, remaining))


def wait_for_port_sync(host: str, port: int, timeout: float = 5.0, interval: float = 0.05) -> None:
    """Blocking twin of :func:`wait_for_port` for sync tests and threads without a loop."""
    _check_args(timeout, interval)
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PortTimeoutError(host, port, timeout, last_error)
        try:
            conn = socket.create_connection((host, port), timeout=remaining)
        except OSError as exc:
            last_error = exc
        else:
            conn.close()
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PortTimeoutError(host, port, timeout, last_error)
        time.sleep(min(interval, remaining))
