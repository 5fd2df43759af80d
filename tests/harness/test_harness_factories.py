"""Fixture factories: the fixture is named after its variable, lives for its scope, cleans up."""

from __future__ import annotations

import pytest
from harness_inner_runs import PLUGIN

from pytest_ctxprop.harness.factories import ctxprop_redis_client_factory

FACTORIES = """
import asyncio
import socket

import pytest

from pytest_ctxprop.harness.factories import (
    ctxprop_redis_client_factory,
    ctxprop_server_factory,
)

PORTS = {{}}


async def serve(ready):
    server = await asyncio.start_server(lambda r, w: w.close(), ready.host, ready.port)
    ready(server.sockets[0].getsockname())
    async with server:
        await server.serve_forever()


shared_server = ctxprop_server_factory(serve, scope="module")
own_server = ctxprop_server_factory(serve, ready_timeout=5)
redis_client = ctxprop_redis_client_factory(decode_responses=True)
cache = ctxprop_redis_client_factory(fake=True, scope="module", decode_responses=True)


@pytest.mark.parametrize("n", range(2))
def test_servers(n, shared_server, own_server):
    PORTS.setdefault("shared", set()).add(shared_server.port)
    PORTS.setdefault("own", set()).add(own_server.port)
    socket.create_connection((own_server.host, own_server.port), timeout=5).close()


def test_scopes_held():
    assert len(PORTS["shared"]) == 1, "module scope: one server for the module"
    assert len(PORTS["own"]) == 2, "function scope: one server per test"


@pytest.mark.parametrize("n", range(2))
def test_url_client_is_fresh(redis_client, n):
    assert redis_client.get("k") is None
    redis_client.set("k", "v")


def test_module_cache_is_shared_1(cache):
    cache.set("k", "v")


def test_module_cache_is_shared_2(cache):
    assert cache.get("k") == "v"
"""


def test_factories_give_named_fixtures_with_their_scopes(hpytester):
    hpytester.makepyfile(test_factories=FACTORIES.format())
    result = hpytester.runpytest_inprocess(
        *PLUGIN, "-p", "no:cacheprovider", "-p", "no:randomly", "--ctxprop-redis=fake"
    )
    result.assert_outcomes(passed=7)


def test_url_client_refuses_a_scope_longer_than_its_store():
    with pytest.raises(ValueError, match="function-scoped"):
        ctxprop_redis_client_factory(scope="module")


OLD_NAMES = """
def test_old_names(redis_url, fake_redis_server, fake_redis, fakeredis_blocking):
    assert redis_url.startswith("redis://")
    assert fake_redis.set("k", "v")
"""


def test_old_fixture_names_still_work_with_a_deprecation_warning(pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_old=OLD_NAMES)
    result = pytester.runpytest_inprocess(
        *PLUGIN, "-p", "no:cacheprovider", "--ctxprop-redis=fake", "-W", "default"
    )
    result.assert_outcomes(passed=1)
    for old, new in [
        ("redis_url", "ctxprop_redis_url"),
        ("fake_redis_server", "ctxprop_fake_redis_server"),
        ("fake_redis", "ctxprop_fake_redis"),
        ("fakeredis_blocking", "ctxprop_fakeredis_blocking"),
    ]:
        result.stdout.fnmatch_lines(
            [f"*CtxpropDeprecationWarning: the {old} fixture is deprecated: use {new}"]
        )
