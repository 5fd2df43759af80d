"""The harness as a pytest plugin: options, ini twins, the header line, fixtures, one report hook.

Loading it changes nothing for a project that uses none of it but one header
line (which Redis the fixtures would use): every fixture is requested by
name, the ini flags default to off, and nothing heavier than the standard
library is imported until a fixture or flag asks for it.  All fixtures are
named ``ctxprop_*``; the old names still work for now, with a deprecation
warning (docs/fixtures.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

from pytest_ctxprop.harness.redis_settings import ENV_URL

if TYPE_CHECKING:
    from pytest_ctxprop.harness.fakeredis_blocking import BlockingPatchReport
    from pytest_ctxprop.harness.leaks import LeakGuard
    from pytest_ctxprop.harness.redis_fixtures import RedisBackend
    from pytest_ctxprop.harness.server import ServerAddress

_backend_key = pytest.StashKey["RedisBackend"]()
_settings_key = pytest.StashKey["RedisSettings"]()
_patch_key = pytest.StashKey["BlockingPatchReport"]()
_loop_note_key = pytest.StashKey[str]()

#: fixtures that use the session's Redis: a failing one gets the Redis log attached
_REDIS_FIXTURES = {"ctxprop_redis_url", "redis_url"}


class CtxpropDeprecationWarning(DeprecationWarning):
    """A harness name that still works but will go; the message names its replacement."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctxprop-harness", "ctxprop harness fixtures")
    url_help = (
        "Redis server for ctxprop_redis_url; each xdist worker uses its own database "
        f"(base + worker index), FLUSHED before every test (env {ENV_URL})"
    )
    backend_help = (
        "ctxprop_redis_url backend without a URL: a private redis-server (real), fakeredis "
        "over TCP (fake), or redis-server when on PATH (auto, the default)"
    )
    group.addoption("--ctxprop-redis-url", default=None, metavar="URL", help=url_help)
    group.addoption("--ctxprop-redis", default=None, metavar="{auto,real,fake}", help=backend_help)
    parser.addini("ctxprop_redis_url", default="", help=url_help)
    parser.addini("ctxprop_redis", default="", help=backend_help)
    flags = {
        "ctxprop_fakeredis_blocking": "patch fakeredis for the whole session so blocking reads "
        "block without spinning (only the fixes the probe finds are needed)",
        "ctxprop_windows_loop": "on Windows, run asyncio tests and harness loops on the "
        "selector event loop through loop factories",
    }
    for name, flag_help in flags.items():
        parser.addini(name, type="bool", default=False, help=flag_help)
        group.addoption(
            "--" + name.replace("_", "-"),
            action="store_const",
            const=True,
            default=None,
            dest=name,
            help=f"{flag_help} (ini {name})",
        )


def _flag(config: pytest.Config, name: str) -> bool:
    """A bool setting: the command line if given there, else ini."""
    given = config.getoption(name, default=None)
    return bool(config.getini(name) if given is None else given)


def pytest_configure(config: pytest.Config) -> None:
    from pytest_ctxprop.harness.redis_settings import read_settings

    config.stash[_settings_key] = read_settings(config)  # a bad URL: usage error, now
    if _flag(config, "ctxprop_windows_loop"):
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
    if _flag(config, "ctxprop_fakeredis_blocking"):
        from pytest_ctxprop.harness.fakeredis_blocking import apply_blocking_patch

        config.stash[_patch_key] = apply_blocking_patch()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _patch_key in config.stash:
        from pytest_ctxprop.harness.fakeredis_blocking import remove_blocking_patch

        remove_blocking_patch()


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    if _settings_key in config.stash:
        lines.append(f"ctxprop redis: {config.stash[_settings_key].describe()}")
    if _loop_note_key in config.stash:
        lines.append(f"ctxprop windows loop: {config.stash[_loop_note_key]}")
    if _patch_key in config.stash:
        applied = config.stash[_patch_key].applied
        lines.append(f"ctxprop fakeredis blocking: {'; '.join(applied) or 'not needed'}")
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the session's Redis log to a failing test that used the Redis URL fixture."""
    report = yield
    backend = item.config.stash.get(_backend_key, None)
    used = _REDIS_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if backend is not None and report.failed and used:
        report.sections.extend(backend.report_sections())
    return report


@pytest.fixture
def ctxprop_leak_guard(request: pytest.FixtureRequest) -> Iterator[LeakGuard]:
    """Fail the test if it leaves new threads, asyncio tasks, child processes or sockets.

    It holds the test's event loop (pytest-asyncio's or anyio's) open until it has
    checked, so tasks the loop's teardown would cancel are still seen as leaks.
    """
    from pytest_ctxprop.harness.leaks import LeakGuard
    from pytest_ctxprop.harness.loop_hold import hold_test_loop

    with ExitStack() as stack:
        runner_owns = hold_test_loop(request, stack)
        guard = LeakGuard(ignore_task=runner_owns).start()
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
def ctxprop_fakeredis_probe() -> BlockingPatchReport:
    """What the H6 probe found in the installed fakeredis, measured once per session."""
    from pytest_ctxprop.harness.fakeredis_blocking import probe

    return probe()


@pytest.fixture(scope="session")
def _ctxprop_redis_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisBackend]:
    from pytest_ctxprop.harness.redis_fixtures import RedisUnavailable, open_backend
    from pytest_ctxprop.harness.redis_settings import read_settings

    config = request.config
    # read again when the hooks did not run (fixtures imported into a conftest)
    settings = config.stash.get(_settings_key, None) or read_settings(config)
    try:
        backend = open_backend(
            settings,
            tmp_path_factory.mktemp("ctxprop-redis"),
            lambda: request.getfixturevalue("ctxprop_fakeredis_probe"),
        )
    except RedisUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)  # one short error, cached for the session
    config.stash[_backend_key] = backend
    try:
        yield backend
    finally:
        del config.stash[_backend_key]
        backend.close()


@pytest.fixture
def ctxprop_redis_url(_ctxprop_redis_backend: RedisBackend) -> Iterator[str]:
    """URL of a Redis store that only this test sees (see docs/fixtures.md for the backends)."""
    with _ctxprop_redis_backend.test_url() as url:
        yield url


@pytest.fixture
def ctxprop_fake_redis_server(ctxprop_fakeredis_probe: BlockingPatchReport) -> Iterator[Any]:
    """A new ``fakeredis.FakeServer`` for this test alone, blocking reads fixed (H6, H7)."""
    import fakeredis

    from pytest_ctxprop.harness.fakeredis_blocking import blocking_patch

    with blocking_patch(decided=ctxprop_fakeredis_probe):
        yield fakeredis.FakeServer()


@pytest.fixture
def ctxprop_fake_redis(ctxprop_fake_redis_server: Any) -> Iterator[Any]:
    """A sync ``fakeredis.FakeRedis`` client on this test's own fake server."""
    import fakeredis

    client = fakeredis.FakeRedis(server=ctxprop_fake_redis_server)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def ctxprop_fakeredis_blocking(
    ctxprop_fakeredis_probe: BlockingPatchReport,
) -> Generator[BlockingPatchReport, None, None]:
    """Make fakeredis's blocking reads block without spinning for this test (H6)."""
    from pytest_ctxprop.harness.fakeredis_blocking import blocking_patch

    with blocking_patch(decided=ctxprop_fakeredis_probe) as report:
        yield report


def _deprecated(old: str, new: str) -> Any:
    """A fixture ``old`` that gives ``new``'s value, with a deprecation warning."""

    @pytest.fixture(name=old)
    def alias(request: pytest.FixtureRequest) -> Any:
        warnings.warn(
            f"the {old} fixture is deprecated: use {new}", CtxpropDeprecationWarning, stacklevel=2
        )
        return request.getfixturevalue(new)

    alias.__doc__ = f"Deprecated alias of ``{new}``."
    return alias


redis_url = _deprecated("redis_url", "ctxprop_redis_url")
fake_redis_server = _deprecated("fake_redis_server", "ctxprop_fake_redis_server")
fake_redis = _deprecated("fake_redis", "ctxprop_fake_redis")
fakeredis_blocking = _deprecated("fakeredis_blocking", "ctxprop_fakeredis_blocking")
