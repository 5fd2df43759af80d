"""The celery app of the celery rows, built the same from plain data in the caller and the worker.

A celery deployment imports one app module in both places; here the app is
made by :func:`build_app` from a JSON-safe config, so a forked worker process
builds exactly what the caller built.  It registers the one generic task
``ctxprop_conformance.probes.run_probe`` (docs/adapters.md, brokers), with the
JSON serializer, a Redis broker and a Redis result backend under a key prefix of
its own.  With ``config["ctxprop"]`` the task class is
:meth:`ctxprop_reference.integrations.celery.CeleryContext.task_base`.
"""

from __future__ import annotations

from typing import Any

from ctxprop_conformance.ecosystem._celery_rq_process import announce, forward_warnings, resolve
from ctxprop_conformance.probes import run_probe

#: this worker process's app (set by :func:`worker_main`), for nested submits (F6)
_worker_app: Any = None


def build_app(config: dict[str, Any], context: Any = None) -> Any:
    """A ``Celery`` app and its ``run_probe`` task; ``context``: a :func:`carrier` of ``config``."""
    from celery import Celery

    task_cls: Any = "celery.app.task:Task"
    if config.get("ctxprop") is not None:
        task_cls = (context or carrier(config)).task_base()
    url, prefix = config["url"], config["prefix"]
    broker, backend = ("memory://", None) if config.get("eager") else (url, url)
    app = Celery(f"ctxprop-{config['queue']}", broker=broker, backend=backend,
                 task_cls=task_cls, set_as_current=False)  # fmt: skip
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=config["queue"],
        task_always_eager=bool(config.get("eager")),
        broker_transport_options={"global_keyprefix": prefix},
        result_backend_transport_options={"global_keyprefix": prefix},
        result_expires=600,
        result_backend_thread_safe=True,  # one backend, so stop() can close its connections
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=1,
    )
    app.task(run_probe, name="ctxprop_conformance.probes.run_probe")
    return app


def warnings_key(config: dict[str, Any]) -> str:
    return config["prefix"] + "warnings"


def carrier(config: dict[str, Any], store: Any = None) -> Any:
    """The integration object both sides build from the same registry specs and key."""
    from ctxprop_reference.integrations.celery import CeleryContext
    from ctxprop_reference.snapshot import JsonCodec, RedisStore, VarRegistry, VarSpec

    ctx = config["ctxprop"]
    registry = VarRegistry.from_specs(VarSpec(i, p, s) for i, p, s in ctx["specs"])
    codec = JsonCodec()
    for path, type_id in ctx["dataclasses"]:
        codec.register_dataclass(resolve(path), type_id)
    store = store if store is not None else RedisStore.from_url(config["url"])
    return CeleryContext(
        registry, store, signing_key=bytes.fromhex(ctx["key"]), codec=codec,
        required=bool(ctx.get("required")), key_prefix=config["prefix"] + "snapshot:",
    )  # fmt: skip


def probe_task(app: Any) -> Any:
    return app.tasks["ctxprop_conformance.probes.run_probe"]


def close_app(app: Any) -> None:
    """Close every connection the app opened: result pub/sub, backend pool, broker pool."""
    if app.conf.task_always_eager:
        app.close()
        return
    backend = app.backend
    consumer = getattr(backend, "result_consumer", None)
    if consumer is not None:
        consumer.stop()
    client = getattr(backend, "client", None)
    if client is not None:
        client.connection_pool.disconnect()
    app.pool.force_close_all()
    app.close()


def worker_main(config: dict[str, Any], worker_init: str | None, ready_key: str) -> None:
    """A worker process's main: celery's prefork worker, ``concurrency=config['workers']``."""
    global _worker_app
    from celery import signals

    try:
        app = _worker_app = build_app(config)
        if worker_init is not None:  # celery's per-pool-process start hook
            init = resolve(worker_init)
            signals.worker_process_init.connect(lambda **_: init(), weak=False)
        if config.get("ctxprop") is not None:  # S3: the pool processes' snapshot warnings
            url, key = config["url"], warnings_key(config)
            signals.worker_process_init.connect(lambda **_: forward_warnings(url, key), weak=False)
        signals.worker_ready.connect(
            lambda **_: announce(config["url"], ready_key, {"ready": True}), weak=False
        )
        worker = app.Worker(
            pool="prefork", concurrency=config["workers"], queues=[config["queue"]],
            hostname=f"{config['queue']}@ctxprop", loglevel="WARNING", without_heartbeat=True,
            without_mingle=True, without_gossip=True, quiet=True, redirect_stdouts=False,
        )  # fmt: skip
    except BaseException as exc:
        announce(config["url"], ready_key, {"error": repr(exc)})
        raise
    worker.start()


class NestedRunner:
    """F6: submit through the worker's own app from inside a task, and wait for it."""

    def __init__(self, timeout: float) -> None:
        if _worker_app is None:
            raise RuntimeError("nested_runner() is for tasks running in a celery row's worker")
        self.task, self.timeout = probe_task(_worker_app), timeout

    def call(self, fn: Any, *args: Any) -> Any:
        from ctxprop_conformance.probes import task_name

        result = self.task.apply_async((task_name(fn), *args))
        try:  # celery refuses a blocking get in a task unless told it is deliberate
            return result.get(timeout=self.timeout, disable_sync_subtasks=False)
        finally:
            result.forget()


def nested_runner(timeout: float = 10.0) -> NestedRunner:
    return NestedRunner(timeout)
