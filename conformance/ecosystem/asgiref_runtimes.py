"""asgiref: ``sync_to_async`` and ``async_to_sync``, the bridges Django runs on.

asgiref documents that both bridges carry context variables *both ways*: the
callee sees the caller's context, and what the callee changes is set in the
caller's context when it returns (``_restore_context``).  So both are the
awaited-call model, with no forward-only vars.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ctxprop_conformance.ecosystem import require
from pytest_ctxprop.adapter import (
    AsyncRuntimeAdapter,
    Capabilities,
    RuntimeAdapter,
    Traits,
    WorkerInit,
)

_BOTH_WAYS = Traits(
    model="awaited-call",
    reuses_workers=True,
    worker_ambient="no worker start",
    error_changes="asgiref restores the callee's context whether or not it raised (measured)",
)


class SyncToAsync(AsyncRuntimeAdapter):
    """``await sync_to_async(fn, thread_sensitive=False)(*args)`` on a thread pool."""

    task_kind: ClassVar[str] = "sync"  # type: ignore[misc]
    traits: ClassVar[Traits] = _BOTH_WAYS
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)

    def __init__(self) -> None:
        self.sync = require("asgiref.sync", "ecosystem")

    async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        import anyio

        with anyio.fail_after(timeout):
            return await self.sync.sync_to_async(fn, thread_sensitive=False)(*args)


class AsyncToSync(RuntimeAdapter):
    """``async_to_sync(fn)(*args)``: runs a coroutine function to completion from sync code."""

    task_kind: ClassVar[str] = "async"  # type: ignore[misc]
    traits: ClassVar[Traits] = _BOTH_WAYS
    capabilities: ClassVar[Capabilities] = Capabilities(worker_init=False)

    def __init__(self) -> None:
        self.sync = require("asgiref.sync", "ecosystem")

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        pass

    def stop(self) -> None:
        pass

    def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
        import anyio

        async def bounded() -> Any:  # in the same task: no copy, so changes still flow back
            with anyio.fail_after(timeout):
                return await fn(*args)

        return self.sync.async_to_sync(bounded)()
