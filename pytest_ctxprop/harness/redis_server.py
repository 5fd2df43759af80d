"""A private ``redis-server`` process per test session (per xdist worker), on a port it really owns.

redis-server cannot listen on port 0 and tell us the port, and finding a free
port then starting the server on it races with every other process.  So the
server itself does the binding: we start it on a random high port and, if it
exits with "Address already in use", start it again on another.  Readiness is
the server answering ``INFO`` over that port with *its own* process id, so a
different server that happens to own the port can never be mistaken for ours.
The log goes to a file so a failing test can show it.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RedisServerError", "RedisServerProcess", "start_redis_server"]

_PORT_RANGE = (20000, 60999)
_LOG_TAIL_LINES = 60


class RedisServerError(RuntimeError):
    """redis-server could not be started."""


@dataclass
class RedisServerProcess:
    """A running redis-server owned by this process."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int
    logfile: Path

    @property
    def url(self) -> str:
        """``redis://host:port/0``."""
        return f"redis://{self.host}:{self.port}/0"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of the server log, for failure reports."""
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError as exc:
            return f"<log unavailable: {exc}>"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server and reap it; kill it if it does not exit within ``timeout``."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)


def _info_process_id(host: str, port: int, timeout: float) -> int | None:
    """The ``process_id`` a Redis server at host:port reports, or None if it is not ready yet."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        data = b""
        while b"process_id:" not in data or not data.endswith(b"\r\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"-"):  # e.g. -LOADING: not ready yet
                return None
    for line in data.split(b"\r\n"):
        if line.startswith(b"process_id:"):
            return int(line.split(b":", 1)[1])
    return None


def _await_ready(
    proc: subprocess.Popen[bytes], host: str, port: int, deadline: float, interval: float
) -> bool:
    """Wait until *our* process answers on ``port``; False if it exited (e.g. port taken)."""
    while True:
        if proc.poll() is not None:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RedisServerError(f"redis-server did not become ready on {host}:{port}")
        try:
            if _info_process_id(host, port, min(remaining, 1.0)) == proc.pid:
                return True
        except OSError:
            pass
        # wakes at once if the process exits: an event wait, not a fixed sleep
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(min(interval, max(0.0, deadline - time.monotonic())))


def start_redis_server(
    workdir: Path,
    *,
    executable: str = "redis-server",
    host: str = "127.0.0.1",
    attempts: int = 20,
    ready_timeout: float = 10.0,
    interval: float = 0.01,
) -> RedisServerProcess:
    """Start redis-server in ``workdir`` on a port it binds itself; retry on a port clash."""
    binary = shutil.which(executable)
    if binary is None:
        raise RedisServerError(f"{executable!r} is not on PATH")
    rng = random.SystemRandom()
    deadline = time.monotonic() + ready_timeout
    for attempt in range(attempts):
        port = rng.randint(*_PORT_RANGE)
        logfile = workdir / f"redis-{port}.log"
        args = [
            binary,
            "--port", str(port),
            "--bind", host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--logfile", str(logfile),
            "--daemonize", "no",
        ]  # fmt: skip
        # stderr (errors before the log is open) goes to the log too, not to the session's
        # own stderr: a server orphaned by a killed session must not hold the caller's pipe
        with logfile.open("ab") as early_errors:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=early_errors
            )
        server = RedisServerProcess(proc, host, port, logfile)
        try:
            if _await_ready(proc, host, port, deadline, interval):
                return server
        except BaseException:
            server.stop()
            raise
        proc.wait()
        if "Address already in use" not in server.log_tail():
            raise RedisServerError(
                f"redis-server exited with {proc.returncode} on attempt {attempt + 1}:\n"
                + server.log_tail()
            )
    raise RedisServerError(f"redis-server found no free port in {attempts} attempts")
