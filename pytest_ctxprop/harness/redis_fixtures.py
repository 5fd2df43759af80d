"""Where ``redis_url`` points, and how each test gets a store nobody else wrote to (H7).

Three backends, chosen once per session (= once per xdist worker):

* ``--ctxprop-redis-url``: a server you run; each worker gets its own database
  number (base + worker index), flushed before every test;
* a private ``redis-server`` when one is on PATH: one process per worker,
  flushed before every test, stopped at session end, its log attached to the
  report of a failing test;
* otherwise fakeredis over TCP: a *new* fake server per test, so there is no
  shared state to leak at all.

redis, fakeredis and the process are touched only when a test asks for them.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url", "select_backend"]

BACKENDS = ("auto", "real", "fake")


def redact_url(url: str) -> str:
    """``url`` with any password replaced, fit for messages and reports."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{userinfo}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _worker_index() -> int:
    """0 without xdist, N for xdist worker ``gwN``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = worker.lstrip("gw")
    return int(digits) if digits.isdigit() else 0


def _flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


class RedisBackend(Protocol):
    """One session's source of clean Redis URLs."""

    name: str

    def test_url(self) -> Any:
        """A context manager yielding a URL to a store no other test can see."""

    def report_sections(self) -> list[tuple[str, str]]:
        """Extra sections for a failing test's report."""

    def close(self) -> None:
        """Release what the session held."""


class ExternalRedis:
    """A server given with ``--ctxprop-redis-url``: one database per xdist worker."""

    name = "external"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        base = int(parts.path.strip("/") or 0)
        self.url = urlunsplit(parts._replace(path=f"/{base + _worker_index()}"))

    @contextmanager
    def test_url(self) -> Iterator[str]:
        _flush(self.url)
        yield self.url

    def report_sections(self) -> list[tuple[str, str]]:
        return [("ctxprop redis", f"external server {redact_url(self.url)}")]

    def close(self) -> None:
        pass


class LocalRedis:
    """A private redis-server for this session (this xdist worker)."""

    name = "redis-server"

    def __init__(self, workdir: Path) -> None:
        from pytest_ctxprop.harness.redis_server import start_redis_server

        self.server = start_redis_server(workdir)

    @contextmanager
    def test_url(self) -> Iterator[str]:
        _flush(self.server.url)
        yield self.server.url

    def report_sections(self) -> list[tuple[str, str]]:
        return [(f"ctxprop redis-server log ({self.server.url})", self.server.log_tail())]

    def close(self) -> None:
        self.server.stop()


class FakeTcpRedis:
    """fakeredis behind a TCP port, a fresh fake server for every test."""

    name = "fakeredis"

    @contextmanager
    def test_url(self) -> Iterator[str]:
        from fakeredis import TcpFakeServer

        server = TcpFakeServer(("127.0.0.1", 0))
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ctxprop-fakeredis-tcp",
        )
        thread.start()
        try:
            host, port = server.server_address[:2]
            yield f"redis://{host}:{port}/0"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    def report_sections(self) -> list[tuple[str, str]]:
        return []

    def close(self) -> None:
        pass


def select_backend(url: str | None, choice: str, workdir: Path) -> RedisBackend:
    """The backend for this session, from ``--ctxprop-redis-url`` and ``--ctxprop-redis``."""
    if url:
        return ExternalRedis(url)
    if choice not in BACKENDS:
        raise ValueError(f"--ctxprop-redis must be one of {BACKENDS}, got {choice!r}")
    if choice == "real" or (choice == "auto" and shutil.which("redis-server")):
        return LocalRedis(workdir)
    return FakeTcpRedis()
