"""A conformance session always ends, even when an adapter left a thread behind.

A call the driver abandoned (a ``result()`` that ignores its timeout, a nested
submit stuck on its own worker) can sit in a ``ThreadPoolExecutor`` worker, and
an adapter can leak a non-daemon thread; either keeps the interpreter alive
forever at exit (``concurrent.futures`` joins its workers, ``threading`` joins
non-daemon threads).  After the session has reported everything, this plugin
gives such threads a short grace, names the ones still alive on stderr, and
ends the process with the session's exit status.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

#: how long leftover threads get to finish once the session is over
GRACE = 2.0


def _stuck(before: set[int]) -> list[threading.Thread]:
    """Threads started during the session that would block interpreter exit."""
    return [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread()
        and t.ident not in before
        and t.is_alive()
        and (not t.daemon or t.name.startswith("ThreadPoolExecutor"))
    ]


class ExitGuard:
    """Registered with a conformance session (see ``docs/report.md``)."""

    def __init__(self) -> None:
        self._before = {t.ident for t in threading.enumerate() if t.ident is not None}
        self._status = 0

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self._status = int(exitstatus)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        deadline = time.monotonic() + GRACE
        for thread in _stuck(self._before):
            thread.join(max(deadline - time.monotonic(), 0.0))
        stuck = _stuck(self._before)
        if not stuck:
            return
        names = ", ".join(sorted(t.name for t in stuck))
        sys.stderr.write(
            f"ctxprop: {len(stuck)} thread(s) an adapter left behind are still running "
            f"after the session ({names}); exiting without waiting for them\n"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(self._status)
