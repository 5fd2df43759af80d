"""One bounded child pytest session of ``ctxprop matrix``: start, follow, stop.

The child runs in its own process group in an empty folder, prints progress
lines (``pytest_ctxprop._progress``), and is taken as hung when a check makes
no progress for ``Bounds.stall`` or the whole run exceeds ``Bounds.total``.
SIGTERM and SIGINT in the parent end the run through ``finally`` blocks, so the
child's whole group and its folder go with it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pytest_ctxprop._progress import DONE, START

__all__ = [
    "EXIT_HUNG", "Bounds", "ChildRun", "Stopped", "child_command", "err", "read_report",
    "signals_stop", "stop_child",
]  # fmt: skip

#: a check ends within CHECK_FACTOR x --timeout (+ CHECK_SLACK) or is taken as hung:
#: start, the scenario and the clean-up are bounded by --timeout each
CHECK_FACTOR = 3
CHECK_SLACK = 5.0
#: collection, imports and interpreter start-up of the child, before its first check
STARTUP = 60.0


def runtime_checks() -> int:
    """Properties this suite version checks against each runtime (from its coverage)."""
    from ctxprop_conformance.properties import coverage

    return sum(
        len(section["checked"])  # type: ignore[arg-type]
        for section in coverage()
        if section["checked_against"] == "runtime"
    )


EXIT_HUNG = 2


@dataclass(frozen=True)
class Bounds:
    """How long the child may go without progress, and how long in all."""

    stall: float
    total: float

    @classmethod
    def for_run(cls, runtimes: int, timeout: float) -> Bounds:
        per_check = CHECK_FACTOR * timeout + CHECK_SLACK
        return cls(stall=per_check, total=STARTUP + runtimes * runtime_checks() * per_check)


class Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_stop() -> Iterator[None]:
    """SIGTERM (and SIGINT) end the run through ``finally`` blocks: child and folder go."""

    def stop(signum: int, frame: Any) -> None:
        raise Stopped(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def stop_child(proc: subprocess.Popen[str]) -> None:
    """Terminate the child's whole process group (pool workers included)."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGCONT):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


class ChildRun:
    """The child session: its output, progress and bounds."""

    def __init__(self, command: list[str], cwd: str, names: list[str], bounds: Bounds) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        self.names = names
        self.bounds = bounds
        self.tail: deque[str] = deque(maxlen=60)
        self.last_progress = "(no check started)"
        self.started: dict[str, float] = {}
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        self.reader = threading.Thread(
            target=_lines, args=(self.proc.stdout, self.lines), daemon=True
        )
        self.reader.start()

    def _progress(self, line: str) -> None:
        if START in line:
            nodeid = line.split(START, 1)[1]
            self.last_progress = f"{START}{nodeid}"
            name = nodeid.rsplit("[", 1)[-1].removesuffix("]")
            if name not in self.started:
                self.started[name] = time.perf_counter()
                err(f"  [{len(self.started)}/{len(self.names)}] {name} ...")
        elif DONE in line:
            name, _, counts = line.split(DONE, 1)[1].partition(": ")
            took = time.perf_counter() - self.started.get(name, time.perf_counter())
            err(f"  [{len(self.started)}/{len(self.names)}] {name}: {counts} ({took:.1f}s)")
        else:
            self.tail.append(line)

    def wait(self) -> str | None:
        """Follow the child to its end; a description of what hung, or None."""
        began = last = time.perf_counter()
        stall = STARTUP + self.bounds.stall  # until the first check starts
        while True:
            now = time.perf_counter()
            left = min(last + stall - now, began + self.bounds.total - now)
            if left <= 0:
                what = "the run" if now - began >= self.bounds.total else "one check"
                limit = self.bounds.total if what == "the run" else stall
                return f"{what} took longer than {limit:g}s; last progress: {self.last_progress}"
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait()
                return None
            if START in line or DONE in line:
                last, stall = time.perf_counter(), self.bounds.stall
            self._progress(line)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


#: plugins that take no part in a runtime check and cost every child session seconds of
#: CPU: Hypothesis's imports Hypothesis for its terminal summary, anyio's imports trio
#: to list its backends (a row that uses either library imports it itself)
_IDLE_PLUGINS = ("hypothesispytest", "anyio")


def child_command(tmp: str, report: Path, specs: list[str], timeout: float) -> list[str]:
    ini = Path(tmp, "pytest.ini")
    ini.write_text("[pytest]\n", encoding="utf-8")
    return [
        sys.executable, "-m", "pytest", "-p", "ctxprop", "-c", str(ini), "--rootdir", tmp,
        "-p", "no:cacheprovider", *(f"-pno:{name}" for name in _IDLE_PLUGINS),
        "-q", "--no-header", "--tb=no", "--ctxprop-progress",
        f"--ctxprop-timeout={timeout}", f"--ctxprop-report={report}",
        *(f"--ctxprop-runtime={spec}" for spec in specs),
    ]  # fmt: skip


def read_report(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data
