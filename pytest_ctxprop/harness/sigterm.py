"""Stop what the session started when it is sent SIGTERM (CI cancelling a job, ``timeout``).

Ctrl-C unwinds through the fixtures' teardown; SIGTERM's default action kills
the process at once, so a private ``redis-server`` would outlive it, orphaned.
While anything is registered here, SIGTERM first runs the registered stops,
then does what it would have done: the previous handler, or the default
(the process still dies *by* SIGTERM, so its exit status is unchanged).
Installed only from the main thread and only over the default handler or a
Python one; an ignored SIGTERM stays ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["on_sigterm"]

_stops: dict[int, Callable[[], None]] = {}
_previous: Any = None
_installed = False
_lock = threading.Lock()


def _handle(signum: int, frame: FrameType | None) -> None:
    with _lock:
        stops = list(_stops.values())
        _stops.clear()
    for stop in reversed(stops):
        with contextlib.suppress(Exception):  # one failed stop must not keep the others
            stop()
    previous = _uninstall()
    if callable(previous):
        previous(signum, frame)
    else:
        os.kill(os.getpid(), signal.SIGTERM)  # the default action, now restored


def _uninstall() -> Any:
    global _installed
    previous = _previous
    if _installed and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)
        _installed = False
    return previous


def _install() -> None:
    global _installed, _previous
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is signal.SIG_IGN or current is None:  # ignored, or set outside Python
        return
    _previous = current
    signal.signal(signal.SIGTERM, _handle)
    _installed = True


def on_sigterm(stop: Callable[[], None]) -> Callable[[], None]:
    """Run ``stop`` if SIGTERM arrives; call the returned function once it is no longer needed."""
    key = id(stop)
    with _lock:
        _stops[key] = stop
    _install()

    def unregister() -> None:
        with _lock:
            _stops.pop(key, None)
            empty = not _stops
        if empty:
            _uninstall()

    return unregister
