"""Nested submission (F6) for in-process runtimes: a named, re-creatable runner.

A task gets a :data:`~ctxprop_conformance.probes.RunnerRef` naming
:func:`local` and a key; :func:`local` finds the runner the suite registered
under that key in this process.  Runtimes that cross processes supply their own
ref through ``adapter.nested_runner()``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from pytest_ctxprop.adapter import AsyncRuntimeAdapter, RuntimeAdapter, can_call

_RUNNERS: dict[int, Any] = {}
_KEYS = itertools.count(1)
_LOCK = threading.Lock()


def register(runner: Any) -> dict[str, Any]:
    """Keep ``runner`` for tasks of this process; return the ref tasks get."""
    with _LOCK:
        key = next(_KEYS)
        _RUNNERS[key] = runner
    return {"factory": f"{__name__}:local", "args": [key]}


def unregister(ref: dict[str, Any]) -> None:
    with _LOCK:
        _RUNNERS.pop(ref["args"][0], None)


def local(key: int) -> Any:
    """The runner registered under ``key`` (the factory a local RunnerRef names)."""
    with _LOCK:
        try:
            return _RUNNERS[key]
        except KeyError:
            raise LookupError(
                f"nested runner {key} is not registered in this process: a runtime that "
                "runs tasks in another process needs adapter.nested_runner()"
            ) from None


class SyncNested:
    """Nested submission from a task of a sync runtime."""

    def __init__(self, adapter: RuntimeAdapter, timeout: float) -> None:
        self._adapter, self._timeout = adapter, timeout

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if can_call(self._adapter):
            return self._adapter.call(fn, *args, timeout=self._timeout)
        return self._adapter.result(self._adapter.submit(fn, *args), self._timeout)


class AsyncNested:
    """Nested submission from a coroutine task of an async runtime."""

    def __init__(self, adapter: AsyncRuntimeAdapter, timeout: float) -> None:
        self._adapter, self._timeout = adapter, timeout

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if can_call(self._adapter):
            return await self._adapter.call(fn, *args, timeout=self._timeout)
        handle = await self._adapter.submit(fn, *args)
        return await self._adapter.result(handle, self._timeout)


class ThreadToLoopNested:
    """Nested submission from a worker thread of an asyncio runtime.

    ``run_coroutine_threadsafe`` schedules from the worker's current context, so
    the nested submit sees what the task set.
    """

    def __init__(self, adapter: AsyncRuntimeAdapter, loop: Any, timeout: float) -> None:
        self._nested = AsyncNested(adapter, timeout)
        self._loop, self._timeout = loop, timeout

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        import asyncio

        future = asyncio.run_coroutine_threadsafe(self._nested.call(fn, *args), self._loop)
        return future.result(self._timeout)
