"""Fixtures for the Redis queue tests: a backend (fakeredis and a real redis-server) and queues."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from queue_helpers import QueueFactory, probe_config, with_url

from ctxprop_reference.redis_queue import RedisTaskQueue
from ctxprop_reference.redis_queue_pool import WorkerPool


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool:
    """Run each test in an empty Context: probe vars set by one test never reach the next."""
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    contextvars.Context().run(pyfuncitem.obj, **kwargs)
    return True


@pytest.fixture
def fake_redis_url() -> Iterator[str]:
    """A fakeredis TCP server of this test's own (worker processes reach it by TCP)."""
    from fakeredis import TcpFakeServer

    from pytest_ctxprop.harness.fakeredis_blocking import blocking_patch

    with blocking_patch():
        server = TcpFakeServer(("127.0.0.1", 0))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            host, port = server.server_address[:2]
            yield f"redis://{host}:{port}/0"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


@pytest.fixture(params=["fakeredis", "redis-server"])
def redis_url(request: pytest.FixtureRequest) -> str:
    """Each queue test runs on fakeredis and on a real redis-server."""
    if request.param == "fakeredis":
        return str(request.getfixturevalue("fake_redis_url"))
    url = str(request.getfixturevalue("real_redis_server_url"))
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def make_queue() -> Iterator[QueueFactory]:
    """``make_queue(url, workers=2, launcher=..., **config)``: started; stopped after the test."""
    made: list[tuple[RedisTaskQueue, WorkerPool]] = []

    def make(
        url: str, workers: int = 2, *, launcher: str = "forkserver", worker_url: str | None = None,
        **overrides: Any,
    ) -> tuple[RedisTaskQueue, WorkerPool]:  # fmt: skip
        config = probe_config(url, **overrides)
        queue = RedisTaskQueue(config)
        worker_config = config if worker_url is None else with_url(config, worker_url)
        pool = WorkerPool(worker_config, workers, launcher=launcher,  # type: ignore[arg-type]
                          preload=("ctxprop_conformance.probes",))  # fmt: skip
        made.append((queue, pool))
        pool.start()
        return queue, pool

    yield make
    for queue, pool in made:
        pool.stop()
        queue.close()
