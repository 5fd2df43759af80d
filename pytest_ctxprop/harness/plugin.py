"""The harness as a pytest plugin: options, opt-in ini flags, fixtures and one report hook.

Loading it changes nothing for a project that uses none of it: every fixture
is requested by name, the ini flags default to off, and nothing heavier than
the standard library is imported until a fixture or flag asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_ctxprop.harness.fakeredis_blocking import BlockingPatchReport
    from pytest_ctxprop.harness.leaks import LeakGuard
    from pytest_ctxprop.harness.redis_fixtures import RedisBackend
    from pytest_ctxprop.harness.server import ServerAddress

_backend_key = pytest.StashKey["RedisBackend"]()
_patch_key = pytest.StashKey["BlockingPatchReport"]()
_loop_note_key = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctxprop-harness", "ctxprop harness fixtures")
    group.addoption(
        "--ctxprop-redis-url",
        default=None,
        metavar="URL",
        help="Redis server for the redis_url fixture; each xdist worker uses its own "
        "database (base + worker index), FLUSHED before every test",
    )
    group.addoption(
        "--ctxprop-redis",
        default="auto",
        choices=("auto", "real", "fake"),
        help="redis_url backend without --ctxprop-redis-url: a private redis-server (real), "
        "fakeredis over TCP (fake), or redis-server when on PATH (auto, the default)",
    )
    parser.addini(
        "ctxprop_fakeredis_blocking",
        type="bool",
        default=False,
        help="patch fakeredis for the whole session so blocking reads block without "
        "spinning (only the fixes the installed version needs)",
    )
    parser.addini(
        "ctxprop_windows_loop",
        type="bool",
        default=False,
        help="on Windows, run asyncio tests and harness loops on the selector event loop "
        "through loop factories",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getini("ctxprop_windows_loop"):
        from pytest_ctxprop.harness import event_loop

        if event_loop.windows_loop_factory() is None:
            config.stash[_loop_note_key] = "not Windows: default event loop"
        elif event_loop.pytest_asyncio_has_factory_hook(config):
            config.pluginmanager.register(event_loop.WindowsLoopPlugin(), "ctxprop-windows-loop")
            config.stash[_loop_note_key] = "selector loop via pytest_asyncio_loop_factories"
        else:
            config.stash[_loop_note_key] = (
                "selector loop for harness loops only: the installed pytest-asyncio "
                "has no loop-factory hook"
            )
    if config.getini("ctxprop_fakeredis_blocking"):
        from pytest_ctxprop.harness.fakeredis_blocking import apply_blocking_patch

        config.stash[_patch_key] = apply_blocking_patch()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _patch_key in config.stash:
        from pytest_ctxprop.harness.fakeredis_blocking import remove_blocking_patch

        remove_blocking_patch()


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    if _loop_note_key in config.stash:
        lines.append(f"ctxprop windows loop: {config.stash[_loop_note_key]}")
    if _patch_key in config.stash:
        applied = config.stash[_patch_key].applied
        lines.append(f"ctxprop fakeredis blocking: {'; '.join(applied) or 'not needed'}")
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the session's Redis log to a failing test that used ``redis_url``."""
    report = yield
    backend = item.config.stash.get(_backend_key, None)
    if backend is not None and report.failed and "redis_url" in getattr(item, "fixturenames", ()):
        report.sections.extend(backend.report_sections())
    return report


@pytest.fixture
def ctxprop_leak_guard() -> Iterator[LeakGuard]:
    """Fail the test if it leaves new threads, asyncio tasks, child processes or sockets."""
    from pytest_ctxprop.harness.leaks import LeakGuard

    guard = LeakGuard().start()
    yield guard
    guard.check()


@pytest.fixture
def ctxprop_server() -> Iterator[Callable[..., ServerAddress]]:
    """Factory: ``address = ctxprop_server(target, **options)`` starts a server in a
    background thread (see run_server); every server started is stopped at teardown.
    Works in sync tests and under any async plugin or backend."""
    from pytest_ctxprop.harness.server_thread import run_server

    with ExitStack() as stack:

        def start(target: Any, **options: Any) -> ServerAddress:
            return stack.enter_context(run_server(target, **options))

        yield start


@pytest.fixture(scope="session")
def _ctxprop_redis_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisBackend]:
    from pytest_ctxprop.harness.redis_fixtures import select_backend

    config = request.config
    backend = select_backend(
        # defaults: the fixtures also work when imported into a conftest without the hooks
        config.getoption("--ctxprop-redis-url", default=None),
        config.getoption("--ctxprop-redis", default="auto"),
        tmp_path_factory.mktemp("ctxprop-redis"),
    )
    config.stash[_backend_key] = backend
    try:
        yield backend
    finally:
        del config.stash[_backend_key]
        backend.close()


@pytest.fixture
def redis_url(_ctxprop_redis_backend: RedisBackend) -> Iterator[str]:
    """URL of a Redis store that only this test sees (see docs/fixtures.md for the backends)."""
    with _ctxprop_redis_backend.test_url() as url:
        yield url


@pytest.fixture
def fake_redis_server() -> Any:
    """A new ``fakeredis.FakeServer`` for this test alone: nothing written survives it."""
    import fakeredis

    return fakeredis.FakeServer()


@pytest.fixture
def fake_redis(fake_redis_server: Any) -> Iterator[Any]:
    """A sync ``fakeredis.FakeRedis`` client on this test's own fake server."""
    import fakeredis

    client = fakeredis.FakeRedis(server=fake_redis_server)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fakeredis_blocking() -> Generator[BlockingPatchReport, None, None]:
    """Make fakeredis's blocking reads block without spinning for this test (H6)."""
    from pytest_ctxprop.harness.fakeredis_blocking import blocking_patch

    with blocking_patch() as report:
        yield report
