"""What a pydocket worker process of the ``docket.redis`` rows runs, and its nested runner (F6).

The worker is docket's own CLI entry, ``Worker.run(...)`` with a task
collection by ``module:attribute`` path; only the suite's generic task
``run_probe_async`` is registered.  With ctxprop it is registered wrapped by
:class:`ctxprop_reference.integrations.docket.DocketContext`.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from ctxprop_conformance import probes
from ctxprop_conformance.probes import run_probe_async, task_name
from ctxprop_reference.snapshot import JsonCodec, VarRegistry

#: the plain worker's task collection (``Worker.run(tasks=[...])`` imports it by path)
TASKS: list[Callable[..., Awaitable[Any]]] = [run_probe_async]
#: the ctxprop worker's collection, filled in the worker process before it serves
CONTEXT_TASKS: list[Callable[..., Awaitable[Any]]] = []
TASK = run_probe_async.__name__
_integration: Any = None
NESTED_TIMEOUT = timedelta(seconds=10)


def probe_codec() -> JsonCodec:
    """The JSON codec with the probe dataclasses (F4, I2), the same on both sides."""
    codec = JsonCodec()
    for cls in (probes.Record, probes.Dependency):
        codec.register_dataclass(cls, f"{cls.__module__}:{cls.__qualname__}")
    return codec


def _resolve(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def serve(
    url: str,
    name: str,
    concurrency: int,
    worker_init: str | None,
    specs: list[Any] | None,
    signing_key: bytes | None,
) -> None:
    """The worker process: its start hook, then docket's ``Worker.run`` (SIGTERM stops it)."""
    from docket import Worker

    collection = f"{__name__}:TASKS"
    if specs is not None:
        from ctxprop_reference.integrations.docket import DocketContext

        global _integration
        _integration = DocketContext(
            VarRegistry.from_specs(specs), signing_key=signing_key, codec=probe_codec()
        )
        CONTEXT_TASKS.append(_integration.task(run_probe_async))
        collection = f"{__name__}:CONTEXT_TASKS"
    if worker_init is not None:
        _resolve(worker_init)()  # I6: the worker's ambient value, set as it starts
    asyncio.run(
        Worker.run(
            docket_name=name, url=url, concurrency=concurrency, tasks=[collection],
            schedule_automatic_tasks=False,
        )
    )  # fmt: skip


class _Nested:
    """Adds to the docket of the worker the task runs on and awaits the result (F6)."""

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        from docket.dependencies import current_docket

        docket = current_docket.get()
        target = task_name(fn)
        if _integration is not None:
            execution = await _integration.add(docket, TASK)(target, *args)
        else:
            execution = await docket.add(TASK)(target, *args)
        return await execution.get_result(timeout=NESTED_TIMEOUT)


def nested_runner() -> _Nested:
    """The factory the F6 task calls inside a worker process."""
    return _Nested()
