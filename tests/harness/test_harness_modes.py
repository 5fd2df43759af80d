"""The fixtures under pytest-asyncio strict and auto modes and under anyio (asyncio and trio),
and a plugin that costs nothing to a project that uses none of it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from harness_inner_runs import PLUGIN, inner_ini

INNER = """
import asyncio
import pytest
{imports}
from pytest_ctxprop import run_server_async, wait_for_port


async def serve(ready):
    server = await asyncio.start_server(lambda r, w: w.close(), ready.host, ready.port)
    ready(server.sockets[0].getsockname())
    async with server:
        await server.serve_forever()

{fixture_deco}
async def server_address():
    async with run_server_async(serve) as address:
        yield address

{asyncio_mark}
async def test_async_fixture_and_probe(ctxprop_leak_guard, server_address):
    await wait_for_port(server_address.host, server_address.port, 5)

{any_mark}
async def test_thread_server_and_probe(ctxprop_leak_guard, ctxprop_server{backend_arg}):
    address = ctxprop_server(serve)
    await wait_for_port(address.host, address.port, 5)

def test_sync_fixtures(ctxprop_leak_guard, ctxprop_redis_url, ctxprop_fake_redis):
    import redis

    client = redis.Redis.from_url(ctxprop_redis_url)
    try:
        assert client.ping()
    finally:
        client.close()
    assert ctxprop_fake_redis.set("k", "v")
{extra}
"""

MODES = {
    "asyncio-strict": dict(
        imports="import pytest_asyncio",
        fixture_deco="@pytest_asyncio.fixture",
        asyncio_mark="@pytest.mark.asyncio",
        any_mark="@pytest.mark.asyncio",
        backend_arg="",
        extra="",
        args=("-o", "asyncio_mode=strict"),
        passed=3,
    ),
    "asyncio-auto": dict(
        imports="",
        fixture_deco="@pytest.fixture",
        asyncio_mark="",
        any_mark="",
        backend_arg="",
        extra="",
        args=("-o", "asyncio_mode=auto"),
        passed=3,
    ),
    # anyio: the in-loop server on asyncio; the thread server and probe on asyncio and trio
    "anyio": dict(
        imports="",
        fixture_deco="@pytest.fixture",
        asyncio_mark="@pytest.mark.anyio",
        any_mark="@pytest.mark.anyio",
        backend_arg=", anyio_backend",
        extra="""
@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
""",
        args=("-p", "no:asyncio", "--ctxprop-redis=fake"),
        passed=4,  # the in-loop fixture test is deselected on trio below
    ),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_fixtures_work_in_each_async_mode(pytester, mode):
    spec = dict(MODES[mode])
    args, passed = spec.pop("args"), spec.pop("passed")
    pytester.makeini(inner_ini(asyncio=mode != "anyio"))
    pytester.makepyfile(test_modes=INNER.format(**spec))
    extra = ["-k", "not (test_async_fixture_and_probe and trio)"] if mode == "anyio" else []
    # a subprocess: in-process, pytest-asyncio 0.24's unclosed loops of earlier tests are
    # collected inside this session and fail it as unraisable ResourceWarnings
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:cacheprovider", *args, *extra)
    result.assert_outcomes(passed=passed)


def test_plugin_changes_nothing_for_a_project_that_does_not_use_it(pytester):
    pytester.makeini(inner_ini())
    pytester.makepyfile(
        """
        import asyncio, pytest

        def test_sync():
            assert True

        @pytest.mark.asyncio
        async def test_async():
            await asyncio.sleep(0)
        """
    )
    with_plugin = pytester.runpytest_inprocess(*PLUGIN, "-p", "no:cacheprovider", "-v")
    without = pytester.runpytest_inprocess(*PLUGIN[2:], "-p", "no:cacheprovider", "-v")
    with_plugin.assert_outcomes(passed=2)
    without.assert_outcomes(passed=2)
    with_plugin.stdout.no_fnmatch_line("*ctxprop windows loop*")
    with_plugin.stdout.no_fnmatch_line("*ctxprop fakeredis*")
    ids = [line for line in with_plugin.stdout.lines if "PASSED" in line]
    assert ids == [line for line in without.stdout.lines if "PASSED" in line]


def test_importing_the_plugin_imports_no_heavy_library():
    heavy = ["redis", "fakeredis", "uvicorn", "anyio", "hypothesis", "trio", "asyncio"]
    code = (
        "import sys, pytest_ctxprop.harness.plugin\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
