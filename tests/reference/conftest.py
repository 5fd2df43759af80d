"""Fixtures for the snapshot tests: registries, clocks, and Redis (fake and real)."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def real_redis_url(real_redis_server_url: str) -> str:
    return real_redis_server_url


@pytest.fixture
def real_redis_client(real_redis_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(real_redis_url)
    client.flushdb()
    yield client
    client.close()
