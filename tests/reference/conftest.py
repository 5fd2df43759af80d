"""Fixtures for the snapshot tests: registries, clocks, and Redis (fake and real)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctxprop_reference.snapshot import MemoryStore, VarRegistry


class ManualClock:
    """A clock a test moves by hand: expiry without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def memory_store(clock: ManualClock) -> MemoryStore:
    return MemoryStore(clock=clock)


@pytest.fixture
def registry() -> VarRegistry:
    return VarRegistry()


@pytest.fixture
def fake_redis_client() -> Iterator[Any]:
    """A fakeredis client on a server of its own (no state shared between tests)."""
    import fakeredis

    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield client
    client.close()


@pytest.fixture(scope="session")
def real_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server started for this session on a port it binds itself."""
    if shutil.which("redis-server") is None:
        reason = "no redis-server on PATH: the real-Redis snapshot tests need one"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI installs it: .ci/run)", pytrace=False)
        pytest.skip(reason)
    from pytest_ctxprop.harness.redis_server import start_redis_server

    server = start_redis_server(Path(tmp_path_factory.mktemp("snapshot-redis")))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def real_redis_client(real_redis_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(real_redis_url)
    client.flushdb()
    yield client
    client.close()
