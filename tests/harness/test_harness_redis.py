"""H7: no test sees what another wrote, in any order or in parallel; plus the Redis backends."""

from __future__ import annotations

import os
import shutil

import pytest
from harness_inner_runs import PLUGIN

from pytest_ctxprop.harness.redis_server import start_redis_server
from pytest_ctxprop.harness.redis_settings import redact_url

needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not on PATH"
)

# Each inner test first asserts the store is empty, then writes: any shared state fails one.
ISOLATION_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(8))
def test_store_starts_empty(ctxprop_leak_guard, n, {fixture}):
    client = {client}
    try:
        assert client.get("shared-key") is None, "saw another test's write"
        client.set("shared-key", str(n))
    finally:
        client.close()
"""

FAKE_SERVER_TESTS = ISOLATION_TESTS.format(
    fixture="ctxprop_fake_redis_server",
    client="__import__('fakeredis').FakeRedis(server=ctxprop_fake_redis_server)",
)
URL_TESTS = ISOLATION_TESTS.format(
    fixture="ctxprop_redis_url", client="__import__('redis').Redis.from_url(ctxprop_redis_url)"
)

SHARED_FAKE_SERVER = """
import fakeredis, pytest

SHARED = fakeredis.FakeServer()

@pytest.fixture
def ctxprop_fake_redis_server():  # H7 broken: one fake server for every test
    return SHARED
"""

UNFLUSHED_REAL_SERVER = """
import pytest

@pytest.fixture
def ctxprop_redis_url(_ctxprop_redis_backend):  # H7 broken: the worker's server, never flushed
    return _ctxprop_redis_backend.server.url
"""


# plugins that cost start-up time or warn under xdist, irrelevant to these runs
QUIET = (
    "-p",
    "no:cacheprovider",
)


def _run(pytester, *args):
    """xdist runs need their own process; serial ones run in-process (faster)."""
    if "-n" in args:
        return pytester.runpytest_subprocess(*PLUGIN, *QUIET, *args)
    return pytester.runpytest_inprocess(*PLUGIN, *QUIET, *args)


@pytest.mark.parametrize("impl", ["ours", "broken-shared"], ids=["H7-real", "H7-broken-shared"])
def test_H7_fresh_fake_server_per_test(hpytester, impl):
    hpytester.makepyfile(test_isolation=FAKE_SERVER_TESTS)
    if impl == "broken-shared":
        hpytester.makeconftest(SHARED_FAKE_SERVER)
    outcomes = _run(hpytester).parseoutcomes()
    if impl == "ours":
        assert outcomes == {"passed": 8}
    else:
        assert outcomes.get("failed", 0) >= 1, "the check must catch a shared fake server"


def test_H7_isolated_in_parallel_across_two_xdist_workers(hpytester):
    """Fake servers and ctxprop_redis_url (redis-server if on PATH), 16 tests over two workers."""
    hpytester.makepyfile(test_fake_isolation=FAKE_SERVER_TESTS, test_url_isolation=URL_TESTS)
    _run(hpytester, "-n", "2").assert_outcomes(passed=16)


def test_H7_redis_url_fake_backend_is_fresh_per_test(hpytester):
    hpytester.makepyfile(test_url_isolation=URL_TESTS)
    _run(hpytester, "--ctxprop-redis=fake").assert_outcomes(passed=8)


@needs_redis_server
def test_H7_check_catches_unflushed_real_server(hpytester):
    hpytester.makepyfile(test_isolation=URL_TESTS)
    hpytester.makeconftest(UNFLUSHED_REAL_SERVER)
    result = _run(hpytester, "--ctxprop-redis=real")
    assert result.parseoutcomes().get("failed", 0) >= 1


@needs_redis_server
def test_real_server_per_worker_stopped_at_session_end_log_on_failure(hpytester):
    pids = hpytester.path / "pids"
    hpytester.makepyfile(
        test_server=f"""
        import os

        def test_record_pid(ctxprop_redis_url, _ctxprop_redis_backend):
            with open({str(pids)!r}, "a") as fh:
                fh.write(f"{{_ctxprop_redis_backend.server.proc.pid}}\\n")

        def test_fails(ctxprop_redis_url):
            assert False, "deliberate"
        """
    )
    result = _run(hpytester, "--ctxprop-redis=real")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*ctxprop redis-server log (redis://127.0.0.1:*", "*Ready to accept connections*"]
    )
    for pid in {int(line) for line in pids.read_text().split()}:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@needs_redis_server
def test_external_url_gives_each_worker_its_own_database(hpytester, tmp_path):
    server = start_redis_server(tmp_path)
    try:
        hpytester.makepyfile(
            test_isolation=URL_TESTS,
            test_db="""
            import os

            def test_worker_database(ctxprop_redis_url):
                worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
                assert ctxprop_redis_url.endswith(f"/{worker}")
            """,
        )
        result = _run(hpytester, "-n", "2", f"--ctxprop-redis-url={server.url}")
        result.assert_outcomes(passed=9)
    finally:
        server.stop()


@needs_redis_server
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads the server's fds in /proc")
def test_server_holds_none_of_the_sessions_output_streams(tmp_path):
    """An orphaned server (its session killed) must not keep a caller's pipe open."""
    server = start_redis_server(tmp_path)
    try:
        fds = {fd: os.readlink(f"/proc/{server.proc.pid}/fd/{fd}") for fd in (1, 2)}
    finally:
        server.stop()
    assert fds == {1: os.devnull, 2: str(server.logfile)}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://user:s3cret@h/1", "redis://user:***@h/1"),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)
def test_urls_in_reports_never_show_passwords(url, shown):
    assert redact_url(url) == shown
