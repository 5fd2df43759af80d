"""H8: on Windows, async tests run on a factory-made selector loop, never via the policy API.

Windows is simulated by setting ``sys.platform`` while the inner session
configures; real Windows is not exercised in this CI.
"""

from __future__ import annotations

import asyncio
import selectors
import sys

import pytest
from harness_inner_runs import PLUGIN, inner_ini

from pytest_ctxprop import run_server, selector_loop_factory
from pytest_ctxprop.harness.event_loop import run_with_loop_factory, windows_loop_factory

pytestmark = pytest.mark.usefixtures("ctxprop_leak_guard")

SIMULATE_WINDOWS = """
import asyncio  # imported on the real platform: asyncio picks its event loop module at import
import sys
import pytest

_REAL = sys.platform


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    sys.platform = "win32"  # simulated Windows, while the plugins configure


def pytest_sessionstart(session):
    sys.platform = _REAL


def pytest_unconfigure(config):
    sys.platform = _REAL
"""

POLICY_API = """
import asyncio
import selectors


class SelectorPolicy(asyncio.DefaultEventLoopPolicy):  # H8 broken: the policy API
    def new_event_loop(self):
        return asyncio.SelectorEventLoop(selectors.SelectSelector())


asyncio.set_event_loop_policy(SelectorPolicy())
"""

CHECK_LOOP = """
import asyncio
import selectors
import pytest


@pytest.mark.asyncio
async def test_loop():
    loop = asyncio.get_running_loop()
    assert isinstance(loop, asyncio.SelectorEventLoop)
    assert isinstance(loop._selector, selectors.SelectSelector), "loop not from the factory"
    policy = asyncio.events._event_loop_policy
    assert policy is None or type(policy).__module__.startswith("asyncio"), policy
"""


# pytest-asyncio 1.x declares the hook the harness uses; older releases (the floor is
# 0.24) get the documented fallback: a selector loop for the harness's own loops only
HAS_FACTORY_HOOK = hasattr(
    getattr(pytest.importorskip("pytest_asyncio.plugin"), "PytestAsyncioSpecs", None),
    "pytest_asyncio_loop_factories",
)


def _run(pytester, *args):
    # a subprocess: pytest-asyncio 0.24 leaves a fresh unclosed loop behind in-process
    return pytester.runpytest_subprocess(*PLUGIN, "-p", "no:cacheprovider", "-v", *args)


@pytest.mark.parametrize("impl", ["ours", "policy-api"], ids=["H8-real", "H8-broken-policy-api"])
def test_H8_simulated_windows_runs_tests_on_factory_selector_loop(pytester, impl):
    if impl == "ours":
        pytester.makeini(inner_ini("ctxprop_windows_loop = true"))
        pytester.makeconftest(SIMULATE_WINDOWS)
    else:
        pytester.makeini(inner_ini())
        pytester.makeconftest(POLICY_API)
    pytester.makepyfile(test_loop=CHECK_LOOP)
    result = _run(pytester)
    try:
        if impl == "ours" and HAS_FACTORY_HOOK:
            result.assert_outcomes(passed=1)
            result.stdout.fnmatch_lines(["ctxprop windows loop: selector loop via *"])
        elif impl == "ours":
            result.stdout.fnmatch_lines(
                ["ctxprop windows loop: selector loop for harness loops only: *no loop-factory*"]
            )
            result.stdout.fnmatch_lines(["*AssertionError: loop not from the factory*"])
        else:
            assert result.parseoutcomes().get("failed") == 1, "the check must catch the policy API"
    finally:
        if impl != "ours":
            asyncio.set_event_loop_policy(None)  # undo the broken conftest's global change


@pytest.mark.parametrize(
    ("flag", "windows", "note"),
    [("true", False, "not Windows"), ("false", True, None)],
    ids=["flag-on-not-windows", "flag-off-on-windows"],
)
def test_H8_changes_nothing_unless_opted_in_on_windows(pytester, flag, windows, note):
    pytester.makeini(inner_ini(f"ctxprop_windows_loop = {flag}"))
    if windows:
        pytester.makeconftest(SIMULATE_WINDOWS)
    pytester.makepyfile(
        test_loop="""
        import asyncio, selectors, pytest

        @pytest.mark.asyncio
        async def test_loop():
            selector = asyncio.get_running_loop()._selector
            assert not isinstance(selector, selectors.SelectSelector)
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1)
    if note:
        result.stdout.fnmatch_lines([f"ctxprop windows loop: {note}*"])
    else:
        result.stdout.no_fnmatch_line("ctxprop windows loop*")


def test_H8_without_factory_hook_harness_loops_still_use_selector(pytester):
    pytester.makeini(inner_ini("ctxprop_windows_loop = true", asyncio=False))
    pytester.makeconftest(SIMULATE_WINDOWS)
    pytester.makepyfile(
        test_thread_loop="""
        import asyncio, selectors, sys
        from pytest_ctxprop import run_server

        SEEN = []

        async def serve(ready):
            SEEN.append(type(asyncio.get_running_loop()._selector))
            server = await asyncio.start_server(lambda r, w: w.close(), ready.host, ready.port)
            ready(server.sockets[0].getsockname())
            async with server:
                await server.serve_forever()

        def test_server_thread_loop(monkeypatch):
            monkeypatch.setattr(sys, "platform", "win32")  # simulated Windows at run time
            with run_server(serve):
                pass
            assert SEEN == [selectors.SelectSelector]
        """
    )
    result = _run(pytester, "-p", "no:asyncio")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["ctxprop windows loop: selector loop for harness loops only*"])


def test_H8_windows_factory_only_on_windows(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert windows_loop_factory() is None
    monkeypatch.setattr(sys, "platform", "win32")
    assert windows_loop_factory() is selector_loop_factory


@pytest.mark.parametrize("runner", ["asyncio.Runner", "3.10-fallback"])
def test_H8_run_with_loop_factory_uses_the_factory(monkeypatch, runner):
    if runner == "3.10-fallback":
        monkeypatch.delattr(asyncio, "Runner", raising=False)

    async def selector_type() -> type:
        asyncio.get_running_loop().create_task(asyncio.Event().wait())  # left for cleanup
        return type(asyncio.get_running_loop()._selector)  # type: ignore[attr-defined]

    assert run_with_loop_factory(selector_type(), selector_loop_factory) is selectors.SelectSelector


def test_H8_sync_server_thread_uses_selector_on_windows(monkeypatch):
    seen: list[type] = []

    async def serve(ready):
        seen.append(type(asyncio.get_running_loop()._selector))
        server = await asyncio.start_server(lambda r, w: w.close(), ready.host, ready.port)
        ready(server.sockets[0].getsockname())
        async with server:
            await server.serve_forever()

    monkeypatch.setattr(sys, "platform", "win32")
    with run_server(serve):
        pass
    assert seen == [selectors.SelectSelector]


@pytest.fixture
def anyio_backend():
    return ("asyncio", {"loop_factory": selector_loop_factory})


@pytest.mark.anyio
async def test_H8_factory_plugs_into_anyio_backend_options(anyio_backend):
    assert isinstance(asyncio.get_running_loop()._selector, selectors.SelectSelector)
