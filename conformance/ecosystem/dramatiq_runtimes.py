"""dramatiq: a real worker process on the Redis broker, and a StubBroker worker in this process.

dramatiq documents no context propagation: an actor runs on one of the
worker's threads (``dramatiq.Worker(broker, worker_threads=n)``) in that
thread's own context, and only the message (actor name, JSON args, options)
travels.  ``+ctxprop`` adds :func:`ctxprop_reference.integrations.dramatiq.context_middleware`
on both sides and nothing else.  Worker processes are forked from the
rows' fork server (``fork_server``) with dramatiq preloaded, so one starts in
milliseconds from a clean process, never from the caller's context.
"""

from __future__ import annotations

import contextvars
import secrets
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance import probes
from ctxprop_conformance.ecosystem import fork_server, require
from ctxprop_conformance.ecosystem.piped_worker import WorkerProcess
from ctxprop_conformance.ecosystem.redis_keys import delete_matching
from ctxprop_conformance.probes import run_probe, task_name
from pytest_ctxprop.adapter import RuntimeAdapter, Traits, WorkerInit

ACTOR = "ctxprop_run_probe"
#: dramatiq's Worker polls an idle queue with backoff up to this many ms (its own option)
POLL_MS = 20
_THREADS = "tasks run on dramatiq's worker threads, each in its thread's own context"
_state: dict[str, Any] = {}  # this worker process's broker and actor (F6)


def _backend_url() -> str:
    from ctxprop_reference.redis_queue_adapter import backend_url

    return backend_url()


def _serializer(specs: Any, key: bytes) -> Any:
    from ctxprop_reference.snapshot import JsonCodec, SnapshotSerializer, VarRegistry

    codec = JsonCodec()
    codec.register_dataclass(probes.Record, "ctxprop:Record")
    codec.register_dataclass(probes.Dependency, "ctxprop:Dependency")
    return SnapshotSerializer(VarRegistry.from_specs(specs), codec=codec, signing_key=key)


def build(url: str | None, namespace: str, ctxprop: tuple[Any, bytes] | None) -> tuple[Any, Any]:
    """The broker (Redis at ``url``, or a StubBroker) with Results, and the one actor."""
    import dramatiq
    from dramatiq.results import Results

    if url is None:
        from dramatiq.brokers.stub import StubBroker
        from dramatiq.results.backends import StubBackend

        broker: Any = StubBroker()
        backend: Any = StubBackend()
    else:
        from dramatiq.brokers.redis import RedisBroker
        from dramatiq.results.backends import RedisBackend

        broker = RedisBroker(url=url, namespace=namespace)
        backend = RedisBackend(url=url, namespace=namespace)
    broker.add_middleware(Results(backend=backend))
    if ctxprop is not None:
        from ctxprop_reference.integrations.dramatiq import context_middleware

        broker.add_middleware(context_middleware(_serializer(*ctxprop)))
    actor = dramatiq.actor(
        run_probe, actor_name=ACTOR, queue_name=namespace, broker=broker,
        store_results=True, max_retries=0,  # a raising probe must not be retried (I4)
    )  # fmt: skip
    return broker, actor


def serve(
    url: str, namespace: str, threads: int, worker_init: WorkerInit | None,
    ctxprop: tuple[Any, bytes] | None,
) -> Callable[[], None]:  # fmt: skip
    """In the worker process: what ``dramatiq`` (the CLI) does, for one broker and one queue."""
    import dramatiq

    broker, actor = build(url, namespace, ctxprop)
    dramatiq.set_broker(broker)
    _state.update(actor=actor, backend=_results(broker))
    if worker_init is not None:
        broker.add_middleware(_ThreadBoot(worker_init))
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=POLL_MS)
    worker.start()

    def stop() -> None:
        worker.stop(timeout=3000)
        broker.close()

    return stop


def _results(broker: Any) -> Any:
    from dramatiq.results import Results

    return next(m.backend for m in broker.middleware if isinstance(m, Results))


def _get(message: Any, backend: Any, timeout: float, ctxprop: bool) -> Any:
    from ctxprop_reference.integrations.dramatiq import get_result

    # both rows translate dramatiq's ResultTimeout; only +ctxprop rebuilds the probe's error type
    return get_result(
        message, backend=backend, timeout=timeout, errors=(probes.ProbeError,) if ctxprop else ()
    )


class _Nested:
    """F6 inside a worker: send through this process's actor and wait for the result."""

    def __init__(self, ctxprop: bool, timeout: float) -> None:
        self._ctxprop, self._timeout = ctxprop, timeout

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        message = _state["actor"].send(task_name(fn), *args)
        return _get(message, _state["backend"], self._timeout, self._ctxprop)


def nested_runner(ctxprop: bool, timeout: float = 10.0) -> _Nested:
    """The factory a task's RunnerRef names (F6)."""
    if "actor" not in _state:
        raise RuntimeError("nested_runner() is for tasks running on a dramatiq worker process")
    return _Nested(ctxprop, timeout)


class DramatiqWorker(RuntimeAdapter):
    """``actor.send(...)`` to a dramatiq worker process on the Redis broker; ``get_result``."""

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True, worker_ambient=_THREADS
    )
    ctxprop: ClassVar[bool] = False

    def __init__(self) -> None:
        require("dramatiq", "brokers")
        require("redis", "brokers")
        fork_server.warm()  # its imports done before any check's bound
        self.specs: list[Any] = []
        self.key = secrets.token_bytes(32)

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.url = _backend_url()
        self.namespace = f"ctxprop-dramatiq-{uuid.uuid4().hex[:12]}"
        wire = (tuple(self.specs), self.key) if self.ctxprop else None
        self.broker, self.actor = build(self.url, self.namespace, wire)
        self.backend = _results(self.broker)
        self.process = WorkerProcess(
            serve, (self.url, self.namespace, workers, worker_init, wire), "dramatiq"
        )
        try:
            self.process.start()
        except BaseException:
            self.broker.close()
            raise

    def stop(self) -> None:
        try:
            self.process.stop()
        finally:
            self.broker.close()
            delete_matching(self.url, f"*{self.namespace}*")

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.actor.send(task_name(fn), *args)

    def result(self, handle: Any, timeout: float) -> Any:
        return _get(handle, self.backend, timeout, self.ctxprop)

    def nested_runner(self) -> dict[str, Any]:
        return {
            "factory": "ctxprop_conformance.ecosystem.dramatiq_runtimes:nested_runner",
            "args": [self.ctxprop],
        }


class DramatiqWorkerCtxprop(DramatiqWorker):
    """The same worker, both sides with ``context_middleware`` (registered vars travel)."""

    traits: ClassVar[Traits] = Traits(
        model="copy", crosses_process=True, reuses_workers=True, vars_travel="registered",
        worker_ambient="each message runs in a fresh Context holding only its snapshot",
    )  # fmt: skip
    ctxprop: ClassVar[bool] = True

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        from ctxprop_reference.snapshot import VarRegistry

        registry = VarRegistry()  # checks the var is importable by its name here (S6)
        registry.register_importable(var.name)
        self.specs.extend(registry.specs())


class DramatiqStub(RuntimeAdapter):
    """``StubBroker`` with a ``dramatiq.Worker`` started in ``start()``: threads of this process."""

    traits: ClassVar[Traits] = Traits(model="copy", reuses_workers=True, worker_ambient=_THREADS)

    def __init__(self) -> None:
        self.dramatiq = require("dramatiq", "brokers")

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.broker, self.actor = build(None, f"ctxprop-stub-{uuid.uuid4().hex[:8]}", None)
        self.backend = _results(self.broker)
        if worker_init is not None:
            self.broker.add_middleware(_ThreadBoot(worker_init))
        self.worker = self.dramatiq.Worker(
            self.broker, worker_threads=workers, worker_timeout=POLL_MS
        )
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop(timeout=3000)
        self.broker.close()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.actor.send(task_name(fn), *args)

    def result(self, handle: Any, timeout: float) -> Any:
        return _get(handle, self.backend, timeout, False)


def _ThreadBoot(worker_init: WorkerInit) -> Any:
    """I6 in-process: dramatiq's documented per-worker-thread hook runs ``worker_init``."""
    import dramatiq

    class ThreadBoot(dramatiq.Middleware):  # type: ignore[misc]
        def after_worker_thread_boot(self, broker: Any, thread: Any) -> None:
            worker_init()

    return ThreadBoot()
