"""A session stopped by SIGTERM or SIGINT leaves no redis-server behind (issue 11, cleanup).

A real inner pytest session, in its own process, starts its private
redis-server, reports the server's pid and blocks; the signal is sent to that
session, and the server's pid must be gone once the session has exited.
Synchronised on the inner session's output, never on time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
from harness_inner_runs import PLUGIN, inner_ini

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or sys.platform == "win32",
    reason="needs redis-server and POSIX signals",
)

INNER_TIMEOUT = 120  # seconds

BLOCKS = """
import threading

def test_blocks(_ctxprop_redis_backend, ctxprop_redis_url):
    print(f"REDIS_PID {_ctxprop_redis_backend.server.proc.pid}", flush=True)
    threading.Event().wait()  # until the signal arrives
"""


# A background job of a non-interactive shell (``cmd &``, nohup loops, some CI runners)
# starts with SIGINT ignored, and every process it starts inherits that: the inner
# session would ignore the SIGINT this test sends and never end.  Ctrl-C at a terminal
# reaches a session with Python's own handler, so the inner session starts from that.
SIGINT_AS_FROM_A_TERMINAL = """
import signal

signal.signal(signal.SIGINT, signal.default_int_handler)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_the_session_stops_its_redis_server(pytester, signum):
    pytester.makeini(inner_ini())
    pytester.makepyfile(test_blocks=BLOCKS)
    pytester.makeconftest(SIGINT_AS_FROM_A_TERMINAL)
    args = [sys.executable, "-m", "pytest", *PLUGIN, "-p", "no:cacheprovider", "-s"]
    proc = subprocess.Popen(
        [*args, "--ctxprop-redis=real", "-p", "no:randomly"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    redis_pid = survivor = None
    hung = False
    reader = None
    seen: list[str] = []
    watchdog = threading.Timer(INNER_TIMEOUT, proc.kill)  # a hung session fails, never hangs
    watchdog.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "REDIS_PID " in line:
                redis_pid = int(line.split("REDIS_PID ", 1)[1].split()[0])
                break
        assert redis_pid is not None, "".join(seen)
        assert _alive(redis_pid)
        # the rest of the output is read while the session ends (a full pipe would block
        # it); the exit is awaited, not the pipe's end: an orphaned redis-server (the bug
        # looked for here) holds the inherited pipe open, so the end might never come
        reader = threading.Thread(target=seen.extend, args=(proc.stdout,), daemon=True)
        reader.start()
        proc.send_signal(signum)
        try:
            proc.wait(timeout=INNER_TIMEOUT / 2)
        except subprocess.TimeoutExpired:
            # SIGABRT: pytest's faulthandler prints every thread's stack, so the output says
            # where the session was stuck
            proc.send_signal(signal.SIGABRT)
            try:
                proc.wait(timeout=INNER_TIMEOUT / 4)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            hung = True
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if redis_pid is not None and _alive(redis_pid):
            survivor = redis_pid
            os.kill(redis_pid, signal.SIGKILL)  # never left behind, whatever failed
        if reader is not None:
            reader.join(INNER_TIMEOUT / 4)  # the pipe's end, now that nothing holds it
        if reader is None or not reader.is_alive():  # closing under a reader would block
            proc.stdout.close()  # type: ignore[union-attr]
        output = "".join(seen)
    assert not hung, f"the session did not end after {signum!r}:\n{output}"
    assert survivor is None, f"redis-server {survivor} outlived the session:\n{output}"
    if signum == signal.SIGTERM:
        assert proc.returncode == -signal.SIGTERM, "the session should still die by SIGTERM"
