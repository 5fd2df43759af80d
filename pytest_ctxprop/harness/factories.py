"""Fixture factories, pytest-redis style: declare a fixture with its own target, options, scope.

    from pytest_ctxprop.harness.factories import (
        ctxprop_redis_client_factory,
        ctxprop_server_factory,
    )

    api = ctxprop_server_factory(app, scope="module")  # a ServerAddress, one per module
    redis_client = ctxprop_redis_client_factory()  # redis.Redis on ctxprop_redis_url
    cache = ctxprop_redis_client_factory(fake=True, scope="module")  # FakeRedis, own server

The fixture takes the name of the variable it is assigned to.  Servers run
through ``run_server`` (own thread and loop), so they suit sync and async
tests under any plugin.  A client on ``ctxprop_redis_url`` is function-scoped,
as the store it points to is flushed for every test; a fake client may have
any scope, its fake server living exactly as long.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from pytest_ctxprop.harness.server import ServerAddress

__all__ = ["ctxprop_redis_client_factory", "ctxprop_server_factory"]

Scope = Literal["function", "class", "module", "package", "session"]


def ctxprop_server_factory(target: Any, *, scope: Scope = "function", **options: Any) -> Any:
    """A fixture yielding the address of ``target``, started for ``scope`` (run_server options)."""

    @pytest.fixture(scope=scope)
    def server_fixture() -> Iterator[ServerAddress]:
        from pytest_ctxprop.harness.server_thread import run_server

        with run_server(target, **options) as address:
            yield address

    server_fixture.__doc__ = f"{target!r} served for the {scope} (ctxprop_server_factory)."
    return server_fixture


def ctxprop_redis_client_factory(
    *, fake: bool = False, scope: Scope = "function", **client_options: Any
) -> Any:
    """A fixture yielding a sync redis client, closed at teardown.

    ``fake=False``: ``redis.Redis`` on ``ctxprop_redis_url`` (function scope only).
    ``fake=True``: ``fakeredis.FakeRedis`` on a fake server of its own for ``scope``,
    with the blocking-read fixes the session's probe decided.
    """
    if not fake and scope != "function":
        raise ValueError(
            "a client on ctxprop_redis_url is function-scoped: its store is flushed for every "
            "test; use fake=True for a longer-lived client"
        )
    if fake:

        @pytest.fixture(scope=scope)
        def fake_client(ctxprop_fakeredis_probe: Any) -> Iterator[Any]:
            import fakeredis

            from pytest_ctxprop.harness.fakeredis_blocking import blocking_patch

            with blocking_patch(decided=ctxprop_fakeredis_probe):
                client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), **client_options)
                try:
                    yield client
                finally:
                    client.close()

        fake_client.__doc__ = f"fakeredis client for the {scope} (ctxprop_redis_client_factory)."
        return fake_client

    @pytest.fixture
    def url_client(ctxprop_redis_url: str) -> Iterator[Any]:
        import redis

        from pytest_ctxprop.harness.redis_fixtures import TIMEOUT

        options = {"socket_connect_timeout": TIMEOUT, "socket_timeout": TIMEOUT, **client_options}
        client = redis.Redis.from_url(ctxprop_redis_url, **options)
        try:
            yield client
        finally:
            client.close()

    url_client.__doc__ = "redis client on ctxprop_redis_url (ctxprop_redis_client_factory)."
    return url_client
