"""Start and stop the worker processes of a Redis queue, and reap every one of them.

Two launchers, the same worker (:func:`ctxprop_reference.redis_queue_worker.run_worker`):

* ``"forkserver"`` (default): forked from multiprocessing's fork server, a
  single-threaded process that has imported the worker code once, so a worker
  starts in milliseconds and never inherits a threaded parent's state;
* ``"subprocess"``: ``python -m ctxprop_reference.redis_queue_worker``, the
  command an operator runs; pays a full interpreter start.

A pool is ready when every worker has announced itself in Redis; a worker that
dies first is an error naming it.  ``stop`` sends SIGTERM, waits, kills what is
left, reaps every process and hands any task a worker still held back to the queue.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, Final, Literal, Protocol

from ctxprop_reference.process_pool import forkserver_socket_length
from ctxprop_reference.redis_queue import QueueConfig, reap_dead_workers
from ctxprop_reference.redis_queue_worker import ENV_SIGNING_KEY, ENV_URL, run_worker

__all__ = ["Launcher", "WorkerPool", "WorkerStartError"]

Launcher = Literal["forkserver", "subprocess"]
_WORKER_MODULE: Final = "ctxprop_reference.redis_queue_worker"
_forkserver_lock = threading.Lock()
_forkserver_ready = False


class WorkerStartError(RuntimeError):
    """A worker process exited, or did not announce itself, before the pool was ready."""


class _Process(Protocol):
    pid: int | None

    def alive(self) -> bool: ...
    def signal(self, signum: int) -> None: ...
    def join(self, timeout: float) -> bool: ...


class _Forked:
    def __init__(self, process: Any) -> None:
        self._process = process
        self.pid: int | None = process.pid

    def alive(self) -> bool:
        return bool(self._process.is_alive())

    def signal(self, signum: int) -> None:
        if self._process.is_alive() and self.pid is not None:
            os.kill(self.pid, signum)

    def join(self, timeout: float) -> bool:
        self._process.join(timeout)
        if self._process.exitcode is None:
            return False
        self._process.close()  # releases its sentinel: nothing of it is left
        return True


class _Spawned:
    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid: int | None = popen.pid

    def alive(self) -> bool:
        return self._popen.poll() is None

    def signal(self, signum: int) -> None:
        if self._popen.poll() is None:
            self._popen.send_signal(signum)

    def join(self, timeout: float) -> bool:
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


def _forkserver_context(preload: Sequence[str]) -> Any:
    """multiprocessing's fork server, asked (once per process) to import the worker code."""
    global _forkserver_ready
    context = multiprocessing.get_context("forkserver")
    with _forkserver_lock:
        if not _forkserver_ready:
            # only takes effect if nobody started the fork server yet; otherwise workers
            # import what they need themselves (slower, still correct)
            # "__main__" first, as multiprocessing's default: imported once there, not per worker
            context.set_forkserver_preload(["__main__", _WORKER_MODULE, "redis", *preload])
            _forkserver_ready = True
    return context


def worker_argv(
    config: QueueConfig, worker_id: str, worker_init: str | None, ready: str
) -> list[str]:
    """The command line of one worker (the URL and the signing key go by environment)."""
    argv = [sys.executable, "-m", _WORKER_MODULE, "--queue", config.queue]
    argv += ["--prefix", config.prefix, "--worker-id", worker_id, "--ready-key", ready]
    argv += ["--ttl", str(config.ttl), "--heartbeat-ttl", str(config.heartbeat_ttl)]
    argv += ["--max-deliveries", str(config.max_deliveries)]
    for task in config.tasks:
        argv += ["--task", task]
    for spec in config.var_specs:
        argv += ["--var", f"{spec.var_id}={spec.path}"]
        if spec.secret:
            argv += ["--secret-var", spec.var_id]
    for path in config.dataclasses:
        argv += ["--dataclass", path]
    if worker_init is not None:
        argv += ["--worker-init", worker_init]
    if config.snapshot_required:
        argv.append("--snapshot-required")
    return argv


class WorkerPool:
    """``workers`` worker processes on one queue; create it, ``start()``, ``stop()``."""

    def __init__(
        self,
        config: QueueConfig,
        workers: int,
        *,
        worker_init: str | None = None,
        launcher: Launcher = "forkserver",
        preload: Sequence[str] = (),
        start_timeout: float = 20.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a pool needs at least one worker, got {workers}")
        if launcher not in ("forkserver", "subprocess"):
            raise ValueError(f"launcher must be 'forkserver' or 'subprocess', got {launcher!r}")
        self.config = config
        self.size = workers
        self.worker_init = worker_init
        if launcher == "forkserver" and forkserver_socket_length() is not None:
            launcher = "subprocess"  # TMPDIR too long for the fork server's unix socket
        self.launcher = launcher
        self.preload = tuple(preload)
        self.start_timeout = start_timeout
        self.worker_ids: list[str] = []
        self._processes: list[_Process] = []
        self._ready_key = config.key("ready", uuid.uuid4().hex)

    @property
    def pids(self) -> list[int]:
        """The OS process ids of the workers started (alive or not)."""
        return [p.pid for p in self._processes if p.pid is not None]

    def start(self) -> None:
        """Launch every worker and wait until each has announced itself."""
        try:
            for _ in range(self.size):
                self._launch(f"{self.config.queue}-{uuid.uuid4().hex[:10]}")
            self._await_ready()
        except BaseException:
            self.stop()
            raise

    def _launch(self, worker_id: str) -> None:
        cfg, ready = self.config, self._ready_key
        if self.launcher == "forkserver":
            context = _forkserver_context(self.preload)
            process = context.Process(
                target=run_worker,
                args=(cfg, worker_id, self.worker_init, ready),
                name=f"ctxprop-queue-worker-{worker_id}",
                daemon=True,
            )
            process.start()
            self._processes.append(_Forked(process))
        else:
            env = dict(os.environ, **{ENV_URL: cfg.url})
            if cfg.signing_key is not None:
                env[ENV_SIGNING_KEY] = cfg.signing_key.hex()
            popen = subprocess.Popen(
                worker_argv(cfg, worker_id, self.worker_init, ready), env=env,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            self._processes.append(_Spawned(popen))
        self.worker_ids.append(worker_id)

    def _await_ready(self) -> None:
        client = self.config.client(socket_timeout=5.0)
        try:
            deadline = time.monotonic() + self.start_timeout
            waiting = set(self.worker_ids)
            while waiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerStartError(
                        f"worker(s) {', '.join(sorted(waiting))} did not start within "
                        f"{self.start_timeout:g}s (Redis at {self.config.where})"
                    )
                reply = client.blpop([self._ready_key], timeout=min(0.2, remaining))
                if reply is None:
                    self._check_alive(waiting)
                    continue
                message = json.loads(reply[1])
                if "error" in message:
                    raise WorkerStartError(
                        f"worker {message['worker']} failed to start: {message['error']}"
                    )
                waiting.discard(message["worker"])
            client.delete(self._ready_key)
        finally:
            client.close()

    def _check_alive(self, waiting: set[str]) -> None:
        for worker_id, process in zip(self.worker_ids, self._processes, strict=True):
            if worker_id in waiting and not process.alive():
                raise WorkerStartError(f"worker {worker_id} (pid {process.pid}) exited at start")

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM every worker, SIGKILL those still running after ``timeout``; reap them all.

        A worker leaving cleanly hands back what it held; for one that was killed its
        heartbeat is deleted and its tasks are put back on the queue here.
        """
        for process in self._processes:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        killed = []
        for worker_id, process in zip(self.worker_ids, self._processes, strict=False):
            if not process.join(max(0.0, deadline - time.monotonic())):
                process.signal(signal.SIGKILL)
                killed.append(worker_id)
                if not process.join(timeout):
                    raise RuntimeError(f"worker {worker_id} (pid {process.pid}) survived SIGKILL")
        self._processes.clear()
        if killed:
            self._hand_back(killed)

    def _hand_back(self, worker_ids: list[str]) -> None:
        client = self.config.client(socket_timeout=5.0)
        try:
            client.delete(*(self.config.key("heartbeat", w) for w in worker_ids))
            reap_dead_workers(client, self.config)
        except Exception:  # Redis gone: the heartbeat TTL hands the tasks back later
            pass
        finally:
            client.close()

    def __repr__(self) -> str:
        return f"<WorkerPool {self.launcher} x{self.size} {self.config!r}>"
