"""The leak guard catches each kind of leak it claims to, and stays quiet when nothing leaks."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from harness_inner_runs import PLUGIN, inner_ini

from pytest_ctxprop import LeakError, LeakGuard

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="read from /proc")


@contextmanager
def leaked_thread() -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="leaky-thread")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def leaked_socket() -> Iterator[None]:
    sock = socket.socket()
    try:
        yield
    finally:
        sock.close()


@contextmanager
def leaked_child() -> Iterator[None]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        yield
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait()


@contextmanager
def leaked_task() -> Iterator[None]:
    loop = asyncio.new_event_loop()
    task = loop.create_task(asyncio.Event().wait(), name="leaky-task")
    try:
        yield
    finally:
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        loop.close()


@contextmanager
def listening_socket() -> Iterator[None]:
    """psutil lists bound and connected sockets only (from /proc/net on Linux)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield


LEAKS: dict[str, tuple[Callable[[], object], str]] = {
    "thread": (leaked_thread, "thread 'leaky-thread'"),
    "socket": (leaked_socket, "socket fd"),
    "child-process": (leaked_child, "child process"),
    "asyncio-task": (leaked_task, "leaky-task"),
}


@pytest.mark.parametrize("kind", list(LEAKS))
def test_guard_reports_each_kind_of_leak(kind):
    if kind in {"socket", "child-process"} and sys.platform != "linux":
        pytest.skip("read from /proc")
    make, expected = LEAKS[kind]
    guard = LeakGuard(grace=0.1).start()
    with make():  # type: ignore[attr-defined]
        with pytest.raises(LeakError, match="leaked resources") as excinfo:
            guard.check()
        assert expected in str(excinfo.value)
    guard.check()  # cleaned up: nothing left to report


def test_guard_is_quiet_when_resources_are_released():
    guard = LeakGuard().start()
    for make, _ in LEAKS.values():
        with make():  # type: ignore[attr-defined]
            pass
    assert guard.leaks() == []


def test_guard_waits_for_a_thread_already_finishing():
    release = threading.Event()
    guard = LeakGuard(grace=5.0).start()
    thread = threading.Thread(target=release.wait)
    thread.start()
    release.set()  # it is on its way out: the bounded join absorbs it
    guard.check()
    thread.join()


@linux_only
def test_guard_fixture_fails_a_leaking_test(hpytester):
    hpytester.makepyfile(
        """
        import socket
        import pytest

        @pytest.fixture
        def closer():  # torn down after the guard has checked
            socks = []
            yield socks
            for sock in socks:
                sock.close()

        def test_leaks(closer, ctxprop_leak_guard):
            closer.append(socket.socket())

        def test_clean(ctxprop_leak_guard):
            socket.socket().close()
        """
    )
    result = hpytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*LeakError: leaked resources:*", "*socket fd*"])


LEAKED_TASK = """
import asyncio
import pytest

{extra}

{mark}
async def test_leaks_a_task(ctxprop_leak_guard{args}):
    asyncio.create_task(asyncio.sleep(3600), name="leaky-task")  # the loop holds its timer


{mark}
async def test_awaits_its_task(ctxprop_leak_guard{args}):
    await asyncio.get_running_loop().create_task(asyncio.sleep(0))
"""

TASK_MODES = {
    "pytest-asyncio": dict(mark="@pytest.mark.asyncio", args="", extra="", plugins=()),
    "anyio-asyncio": dict(
        mark="@pytest.mark.anyio",
        args=", anyio_backend",
        extra='@pytest.fixture\ndef anyio_backend():\n    return "asyncio"',
        plugins=("-p", "no:asyncio"),
    ),
}


@pytest.mark.parametrize("mode", list(TASK_MODES))
def test_guard_catches_a_task_the_async_plugin_would_cancel(pytester, mode):
    spec = dict(TASK_MODES[mode])
    plugins = spec.pop("plugins")
    pytester.makeini(inner_ini(asyncio=mode == "pytest-asyncio"))
    pytester.makepyfile(test_tasks=LEAKED_TASK.format(**spec))
    # a subprocess: in-process, pytest-asyncio 0.24's own loops of the outer session are
    # collected inside the inner one and reported there as unclosed
    result = pytester.runpytest_subprocess(*PLUGIN, *plugins, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*LeakError: leaked resources:*", "*asyncio task*leaky-task*"])


needs_psutil = pytest.mark.skipif(
    __import__("importlib").util.find_spec("psutil") is None, reason="psutil not installed"
)


@needs_psutil
@pytest.mark.parametrize("kind", ["socket", "child-process"])
def test_guard_uses_psutil_where_there_is_no_proc(monkeypatch, kind):
    """macOS and Windows have no /proc: psutil sees the sockets and children there."""
    from pytest_ctxprop.harness import leaks

    monkeypatch.setattr(leaks, "_PROC", "/nonexistent-proc")
    make, expected = LEAKS[kind] if kind != "socket" else (listening_socket, "socket fd")
    guard = LeakGuard(grace=0.1).start()
    with make():  # type: ignore[attr-defined]
        with pytest.raises(LeakError, match="leaked resources") as excinfo:
            guard.check()
        assert expected in str(excinfo.value)
    guard.check()
