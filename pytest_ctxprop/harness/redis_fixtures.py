"""Where ``ctxprop_redis_url`` points, and how each test gets a store nobody else wrote to (H7).

Three backends, chosen once per session (= once per xdist worker, see redis_settings):

* an external server: each worker gets its own database number (base +
  worker index), flushed before every test; checked once at session start,
  with a bounded connect, so an unreachable or too-small server is one clear
  error instead of a traceback per test;
* a private ``redis-server`` when one is on PATH: one process per worker,
  flushed before every test, stopped at session end (and on SIGTERM), its log
  attached to the report of a failing test;
* otherwise fakeredis over TCP: a *new* fake server per test, so there is no
  shared state to leak at all, with the blocking-read fixes the probe decided.

redis, fakeredis and the process are touched only when a test asks for them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from pytest_ctxprop.harness.fakeredis_tcp import tcp_fake_server
from pytest_ctxprop.harness.redis_settings import RedisSettings, redact_url

if TYPE_CHECKING:
    from pytest_ctxprop.harness.fakeredis_blocking import BlockingPatchReport

__all__ = ["RedisUnavailable", "open_backend", "redact_url"]

#: seconds for any connect and any reply from a server the harness talks to; a URL's own
#: ``socket_timeout`` / ``socket_connect_timeout`` query parameters take precedence
TIMEOUT = 2.0


class RedisUnavailable(RuntimeError):
    """The configured Redis cannot serve this session (unreachable, silent, too few DBs)."""


def _worker() -> tuple[str, int]:
    """(``gwN``, N) under xdist; ("", 0) without it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    digits = worker.removeprefix("gw")
    return worker, int(digits) if digits.isdigit() else 0


def _client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)


def _flush(url: str) -> None:
    client = _client(url)
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
    """A server given by URL: one database per xdist worker, checked before the first test."""

    name = "external"

    def __init__(self, url: str, source: str) -> None:
        parts = urlsplit(url)
        self.base = int(parts.path.strip("/") or 0)
        self.worker, index = _worker()
        self.db = self.base + index
        self.url = urlunsplit(parts._replace(path=f"/{self.db}"))
        self.source = source
        self.where = (
            f"{parts.hostname}:{parts.port or 6379}" if parts.scheme != "unix" else parts.path
        )

    def check(self) -> None:
        """Connect once, bounded: RedisUnavailable naming host:port and what went wrong."""
        import redis

        shown = f"{self.source} {redact_url(self.url)}"
        client = _client(self.url)
        try:
            client.ping()
        except redis.ResponseError as exc:
            if "out of range" not in str(exc):
                raise RedisUnavailable(f"{shown}: {exc}") from None
            who = f"xdist worker {self.worker}" if self.worker else "this session"
            raise RedisUnavailable(
                f"{shown}: {who} needs database {self.db} (base {self.base} + worker index "
                f"{self.db - self.base}) but the server at {self.where} has "
                f"{self._databases()}; lower the URL's database, run fewer workers, or raise "
                "'databases' in the server's config"
            ) from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise RedisUnavailable(
                f"{shown}: cannot reach Redis at {self.where} within {TIMEOUT:g} s ({exc})"
            ) from None
        finally:
            client.close()

    def _databases(self) -> str:
        import redis

        client = _client(urlunsplit(urlsplit(self.url)._replace(path="/0")))
        try:
            count = client.config_get("databases").get("databases")
        except redis.RedisError:
            count = None
        finally:
            client.close()
        return f"only {count} databases (0-{int(count) - 1})" if count else "fewer databases"

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
        from pytest_ctxprop.harness.sigterm import on_sigterm

        self.server = start_redis_server(workdir)
        self._forget_sigterm = on_sigterm(self.server.stop)

    @contextmanager
    def test_url(self) -> Iterator[str]:
        _flush(self.server.url)
        yield self.server.url

    def report_sections(self) -> list[tuple[str, str]]:
        return [(f"ctxprop redis-server log ({self.server.url})", self.server.log_tail())]

    def close(self) -> None:
        self._forget_sigterm()
        self.server.stop()


class FakeTcpRedis:
    """fakeredis behind a TCP port, a fresh fake server for every test, blocking reads fixed."""

    name = "fakeredis"

    def __init__(self, decided: BlockingPatchReport) -> None:
        self.decided = decided

    @contextmanager
    def test_url(self) -> Iterator[str]:
        from pytest_ctxprop.harness.fakeredis_blocking import blocking_patch

        with blocking_patch(decided=self.decided):
            server = tcp_fake_server()
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
                server.close_connections()
                thread.join()

    def report_sections(self) -> list[tuple[str, str]]:
        return []

    def close(self) -> None:
        pass


def open_backend(
    settings: RedisSettings, workdir: Path, decided: Callable[[], BlockingPatchReport]
) -> RedisBackend:
    """Start (or check) the session's backend; RedisUnavailable if it cannot serve.

    ``decided`` returns the session's fakeredis probe result; it is called (and the
    probe paid for) only for the fake backend.
    """
    if settings.url is not None:
        backend = ExternalRedis(settings.url, settings.url_source)
        backend.check()
        return backend
    if settings.backend == "real":
        return LocalRedis(workdir)
    return FakeTcpRedis(decided())
