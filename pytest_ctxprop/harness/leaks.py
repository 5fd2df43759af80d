"""A leak guard: fail a test that leaves threads, asyncio tasks, child processes or sockets.

Before the test it takes a snapshot; after it, anything new that is still
alive is a leak.  New threads get a bounded ``join`` first (an event wait, not a
sleep) so a thread that is already on its way out is not blamed.  Sockets and
child processes are read from ``/proc`` where there is one, else from psutil
when it is installed (macOS, Windows), else not checked; asyncio tasks are
found with the garbage collector, so tasks on any loop (including a
background thread's) count.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LeakError", "LeakGuard"]

_PROC = "/proc"


class LeakError(AssertionError):
    """The guarded code left resources behind."""


def _pending_tasks() -> list[Any]:
    """Every unfinished asyncio task in the process, on any loop."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return []
    return [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:
        return None
    return psutil


def _psutil_sockets() -> dict[Any, str]:
    """Open sockets as psutil sees them (fd is -1 on Windows: keyed by the whole entry)."""
    psutil = _psutil()
    if psutil is None:
        return {}
    proc = psutil.Process()
    listing = getattr(proc, "net_connections", None) or proc.connections
    try:
        conns = listing(kind="all")
    except (psutil.Error, OSError):
        return {}
    return {(c.fd, c.family, c.type, c.laddr): f"{c.laddr or ''} {c.status}" for c in conns}


def _psutil_children() -> dict[int, str]:
    psutil = _psutil()
    if psutil is None:
        return {}
    children: dict[int, str] = {}
    for child in psutil.Process().children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                children[child.pid] = child.name()
        except psutil.Error:  # exited meanwhile
            continue
    return children


def _socket_fds() -> dict[Any, str]:
    """fd -> ``socket:[inode]`` for this process's open sockets (/proc, else psutil)."""
    fd_dir = f"{_PROC}/self/fd"
    found: dict[Any, str] = {}
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return _psutil_sockets()
    for name in names:
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:  # closed between listdir and readlink
            continue
        if target.startswith("socket:"):
            found[int(name)] = target
    return found


def _live_children() -> dict[int, str]:
    """pid -> name of this process's children that have not exited (/proc, else psutil)."""
    me = os.getpid()
    children: dict[int, str] = {}
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return _psutil_children()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"{_PROC}/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        rest = stat.rsplit(")", 1)[-1].split()
        if len(rest) < 2 or int(rest[1]) != me or rest[0] == "Z":
            continue
        children[int(entry)] = stat.split("(", 1)[-1].rsplit(")", 1)[0]
    return children


@dataclass
class LeakGuard:
    """Snapshot, then report what is new and still alive.

    ``grace`` bounds how long new threads are joined before they count as leaked.
    Threads whose name starts with one of ``ignore_threads`` are never counted:
    by default trio's thread cache, whose idle workers (also used by anyio's
    trio test runner) linger for a while by design and are reused, not leaked.
    """

    grace: float = 2.0
    ignore_threads: tuple[str, ...] = ("Trio thread ",)
    ignore_task: Callable[[Any], bool] = field(default=lambda task: False, repr=False)
    _threads: set[threading.Thread] = field(default_factory=set, repr=False)
    _tasks: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet, repr=False)
    _sockets: dict[Any, str] = field(default_factory=dict, repr=False)
    _children: dict[int, str] = field(default_factory=dict, repr=False)

    def start(self) -> LeakGuard:
        """Take the baseline snapshot."""
        self._threads = set(threading.enumerate())
        self._tasks = weakref.WeakSet(_pending_tasks())
        self._sockets = _socket_fds()
        self._children = _live_children()
        return self

    def leaks(self) -> list[str]:
        """Describe every leaked resource (empty when clean)."""
        found = self._collect()
        if found:  # objects in reference cycles close only on collection: give them that chance
            gc.collect()
            found = self._collect()
        return found

    def check(self) -> None:
        """Raise LeakError naming every leaked resource."""
        found = self.leaks()
        if found:
            raise LeakError("leaked resources:\n  " + "\n  ".join(found))

    def _collect(self) -> list[str]:
        found = [f"thread {t.name!r} (daemon={t.daemon})" for t in self._new_threads()]
        found += [
            f"asyncio task {t!r}"
            for t in _pending_tasks()
            if t not in self._tasks and not self.ignore_task(t)
        ]
        found += [
            f"socket fd {fd[0] if isinstance(fd, tuple) else fd} {inode}"
            for fd, inode in _socket_fds().items()
            if self._sockets.get(fd) != inode
        ]
        found += [
            f"child process {pid} ({name})"
            for pid, name in _live_children().items()
            if pid not in self._children
        ]
        return found

    def _new_threads(self) -> list[threading.Thread]:
        deadline = time.monotonic() + self.grace
        alive = []
        for thread in threading.enumerate():
            if (
                thread in self._threads
                or thread is threading.current_thread()
                or thread.name.startswith(self.ignore_threads)
            ):
                continue
            with contextlib.suppress(RuntimeError, AssertionError):  # dummy threads: no join
                thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                alive.append(thread)
        return alive
