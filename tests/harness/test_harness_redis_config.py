"""Redis settings: one name on CLI, env and ini; bad URLs refused up front; an unusable
server is one short, bounded error naming host:port; the header says which backend."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator

import pytest
from harness_inner_runs import PLUGIN, inner_ini

from pytest_ctxprop.harness.redis_fixtures import TIMEOUT
from pytest_ctxprop.harness.redis_server import start_redis_server

needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not on PATH"
)
QUIET = ("-p", "no:cacheprovider")
SAFETY = 10.0  # seconds of slack for a loaded machine

USES_URL = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_uses_redis(ctxprop_redis_url, n):
    pass
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess(*PLUGIN, *QUIET, *args)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port that is bound but not listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into the backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("localhost:6379", "no scheme"),
        ("redis://localhost:6379/abc", "database 'abc' is not"),
        ("redis://localhost:port/0", "port is not a number"),
        ("http://localhost:6379/0", "scheme 'http'"),
    ],
)
def test_malformed_url_is_a_usage_error(hpytester, url, why):
    hpytester.makepyfile("def test_nothing(): pass")
    result = _run(hpytester, f"--ctxprop-redis-url={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--ctxprop-redis-url*{why}*"])


def test_bad_backend_choice_in_ini_is_a_usage_error(hpytester):
    hpytester.makeini(inner_ini("ctxprop_redis = sometimes"))
    hpytester.makepyfile("def test_nothing(): pass")
    result = _run(hpytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini ctxprop_redis must be one of auto, real, fake*"])


def test_password_never_shown_in_usage_errors(hpytester):
    hpytester.makepyfile("def test_nothing(): pass")
    result = _run(hpytester, "--ctxprop-redis-url=redis://:s3cret@h:6379/x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "s3cret" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(
    ("cli", "env", "ini", "shown"),
    [
        (
            "redis://cli:1/0",
            "redis://env:2/0",
            "redis://ini:3/0",
            "cli:1/0 from --ctxprop-redis-url",
        ),
        (None, "redis://env:2/0", "redis://ini:3/0", "env:2/0 from CTXPROP_REDIS_URL"),
        (None, None, "redis://ini:3/0", "ini:3/0 from ini ctxprop_redis_url"),
    ],
)
def test_url_from_cli_then_env_then_ini_named_in_header(
    hpytester, monkeypatch, cli, env, ini, shown
):
    hpytester.makeini(inner_ini(f"ctxprop_redis_url = {ini}"))
    hpytester.makepyfile("def test_nothing(): pass")
    monkeypatch.delenv("CTXPROP_REDIS_URL", raising=False)
    if env:
        monkeypatch.setenv("CTXPROP_REDIS_URL", env)
    result = _run(hpytester, *([f"--ctxprop-redis-url={cli}"] if cli else []))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"ctxprop redis: external redis://{shown} *"])


@pytest.mark.parametrize(
    ("choice", "shown"),
    [
        ("fake", "fakeredis over TCP*"),
        pytest.param("real", "private redis-server*", marks=needs_redis_server),
    ],
)
def test_header_names_the_backend(hpytester, monkeypatch, choice, shown):
    monkeypatch.delenv("CTXPROP_REDIS_URL", raising=False)
    hpytester.makepyfile("def test_nothing(): pass")
    result = _run(hpytester, f"--ctxprop-redis={choice}")
    result.stdout.fnmatch_lines([f"ctxprop redis: {shown}"])


def _assert_one_short_error(result: pytest.RunResult, needle: str) -> None:
    result.assert_outcomes(errors=3)
    errors = [line for line in result.stdout.lines if needle in line]
    assert errors, result.stdout.str()
    assert "Traceback" not in result.stdout.str()
    assert len(result.stdout.lines) < 60, "the error should be short"


def test_unreachable_url_is_one_short_error_naming_host_port(hpytester, refused_port):
    hpytester.makepyfile(test_url=USES_URL)
    result = _run(hpytester, f"--ctxprop-redis-url=redis://127.0.0.1:{refused_port}/0")
    _assert_one_short_error(result, f"cannot reach Redis at 127.0.0.1:{refused_port}")


def test_silent_server_costs_one_bounded_timeout_for_the_session(hpytester, silent_port):
    hpytester.makepyfile(test_url=USES_URL)
    start = time.monotonic()
    result = _run(hpytester, f"--ctxprop-redis-url=redis://127.0.0.1:{silent_port}/0")
    elapsed = time.monotonic() - start
    _assert_one_short_error(result, f"cannot reach Redis at 127.0.0.1:{silent_port}")
    assert elapsed < TIMEOUT + SAFETY, f"{elapsed:.1f} s: the timeout was paid per test"


@needs_redis_server
def test_database_overflow_names_worker_and_database_count(hpytester, tmp_path, monkeypatch):
    server = start_redis_server(tmp_path)
    try:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
        hpytester.makepyfile(test_url=USES_URL)
        result = _run(hpytester, f"--ctxprop-redis-url={server.url[:-2]}/15")
        _assert_one_short_error(
            result, "xdist worker gw3 needs database 18 (base 15 + worker index 3)"
        )
        result.stdout.fnmatch_lines(["*only 16 databases (0-15)*"])
    finally:
        server.stop()
