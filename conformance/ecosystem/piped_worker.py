"""One broker worker in its own OS process, forked from the rows' fork server.

Shared by the dramatiq, taskiq and arq rows.  The fork server
(:mod:`ctxprop_conformance.ecosystem.fork_server`) is single threaded and has
imported the libraries once, so a worker starts in milliseconds from a clean
process (never the caller's context, never a copy of a threaded parent).
``serve(*args)`` runs in the child and returns a ``stop`` callable; the parent
waits for "ready" on a pipe, and ``stop`` asks the child to stop, waits a
bounded time, then kills and reaps it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ctxprop_conformance.ecosystem import fork_server

__all__ = ["WorkerProcess"]


def _main(serve: Callable[..., Callable[[], None]], args: tuple[Any, ...], conn: Any) -> None:
    try:
        stop = serve(*args)
    except BaseException as exc:
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    conn.send("ready")
    with contextlib.suppress(EOFError):
        conn.recv()  # "stop", or EOF when the parent went away
    try:
        stop()
    finally:
        with contextlib.suppress(OSError):
            conn.send("stopped")


class WorkerProcess:
    """``start()`` returns once the worker serves; ``stop()`` is bounded and reaps the process."""

    def __init__(self, serve: Callable[..., Any], args: tuple[Any, ...], name: str) -> None:
        self._serve, self._args, self._name = serve, args, name
        self._process: Any = None
        self._conn: Any = None

    def start(self, timeout: float = 20.0) -> None:
        context = fork_server.context()
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_main, args=(self._serve, self._args, child),
            name=f"ctxprop-{self._name}-worker", daemon=True,
        )  # fmt: skip
        self._process.start()
        child.close()
        try:
            if not self._conn.poll(timeout):
                raise RuntimeError(f"the {self._name} worker did not start within {timeout:g}s")
            message = self._conn.recv()
        except EOFError:
            message = f"exited with code {self._process.exitcode} before it was ready"
        except BaseException:
            self._kill()
            raise
        if message != "ready":
            self._kill()
            raise RuntimeError(f"the {self._name} worker failed to start: {message}")

    def stop(self, timeout: float = 5.0) -> None:
        if self._process is None:
            return
        try:
            self._conn.send("stop")
            if self._conn.poll(timeout):
                self._conn.recv()
        except (OSError, EOFError):
            pass
        self._process.join(timeout)
        self._kill()

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process.is_alive():
            process.kill()
            process.join(5.0)
        self._conn.close()
        if process.is_alive():
            raise RuntimeError(f"the {self._name} worker (pid {process.pid}) survived SIGKILL")
