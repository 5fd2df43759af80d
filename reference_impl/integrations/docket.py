"""Carry registered contextvars from a pydocket submitter to the worker that runs the task.

pydocket runs every task in the worker's own context (``asyncio.create_task``
in the worker loop), so nothing the submitter set arrives.  This wrapper takes
a snapshot (``ctxprop_reference.snapshot``) of the registered vars when the
task is added, stores it under the task's docket key in docket's own Redis
(``SET ... PX ttl NX``), and in the worker runs the task in a fresh Context
restored from that record.  Records are JSON (signed when a key is given);
nothing is ever unpickled from them.  docket is imported lazily.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ctxprop_reference.snapshot import (
    JsonCodec,
    SnapshotRejectedError,
    SnapshotSerializer,
    SnapshotWarning,
    VarRegistry,
)

if TYPE_CHECKING:
    from docket import Docket, Execution

__all__ = ["DocketContext"]

logger = logging.getLogger(__name__)
_WARNINGS_KEPT = 1000


class DocketContext:
    """Snapshot at ``add``, restore in the worker: the same object on both sides.

    ``registry`` says which vars travel; a worker builds the same one
    (``VarRegistry.from_specs(registry.specs())``) and the same ``signing_key``.
    """

    def __init__(
        self,
        registry: VarRegistry,
        *,
        signing_key: bytes | None = None,
        codec: JsonCodec | None = None,
        ttl: float = 3600.0,
        required: bool = False,
        key_prefix: str = "ctxprop:snapshot:",
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive: every stored snapshot expires")
        self.serializer = SnapshotSerializer(registry, codec=codec, signing_key=signing_key)
        self.ttl_ms = int(ttl * 1000)
        self.required = required
        self.key_prefix = key_prefix

    def __repr__(self) -> str:  # ids only: never a value or the key
        return f"DocketContext({self.serializer!r}, ttl_ms={self.ttl_ms}, required={self.required})"

    def snapshot_key(self, docket: Docket, task_key: str) -> str:
        return docket.key(f"{self.key_prefix}{task_key}")

    def warnings_key(self, docket: Docket) -> str:
        return docket.key(f"{self.key_prefix}warnings")

    def add(
        self,
        docket: Docket,
        function: Callable[..., Awaitable[Any]] | str,
        *,
        key: str | None = None,
    ) -> Callable[..., Awaitable[Execution]]:
        """Like ``docket.add(function, key=...)``; snapshot taken when the result is called."""

        async def schedule(*args: Any, **kwargs: Any) -> Execution:
            task_key = key or uuid.uuid4().hex
            record = self.serializer.dumps(task_key)  # S2: an error naming the var, at submit
            snapshot_key = self.snapshot_key(docket, task_key)
            async with docket.redis() as redis:
                stored = await redis.set(snapshot_key, record, px=self.ttl_ms, nx=True)
            if not stored:
                raise ValueError(f"a snapshot for task key {task_key!r} already exists")
            try:
                return await docket.add(function, key=task_key)(*args, **kwargs)  # type: ignore[arg-type]
            except BaseException:
                async with docket.redis() as redis:
                    await redis.delete(snapshot_key)
                raise

        return schedule

    def task(self, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """The worker side: register this in place of ``function`` (it keeps its name)."""

        @functools.wraps(function)
        async def run_in_snapshot(*args: Any, **kwargs: Any) -> Any:
            from docket.dependencies import current_docket, current_execution, current_worker

            docket, task_key = current_docket.get(), current_execution.get().key
            context = await self._restore(docket, task_key)
            for var in (current_docket, current_worker, current_execution):
                context.run(var.set, var.get())  # docket's own per-task ambient, not the caller's
            # a fresh Context per task: the worker's own values and the last task's never leak
            inner = context.run(asyncio.get_running_loop().create_task, function(*args, **kwargs))
            result = await inner
            # done: the record goes. A failed run keeps it for docket's retries of the same
            # key (Retry), and a worker that died leaves it: the TTL ends both.
            async with docket.redis() as redis:
                await redis.delete(self.snapshot_key(docket, task_key))
            return result

        return run_in_snapshot

    async def _restore(self, docket: Docket, task_key: str) -> contextvars.Context:
        snapshot_key = self.snapshot_key(docket, task_key)
        async with docket.redis() as redis:
            record = await redis.get(snapshot_key)
        with warnings.catch_warnings(record=True) as caught:  # sync: no other task runs here
            warnings.simplefilter("always", SnapshotWarning)
            try:
                snapshot = self.serializer.loads(task_key, record, required=self.required)
            except SnapshotRejectedError as exc:
                await self._report(docket, str(exc))
                raise
        for warning in caught:
            await self._report(docket, str(warning.message))
        return snapshot.restore()

    async def _report(self, docket: Docket, message: str) -> None:
        """Messages name tasks and var ids only (never values): log and keep the last 1,000."""
        logger.warning("%s", message)
        async with docket.redis() as redis:
            key = self.warnings_key(docket)
            await redis.rpush(key, message.encode())
            await redis.ltrim(key, -_WARNINGS_KEPT, -1)
            await redis.expire(key, max(1, -(-self.ttl_ms // 1000)))

    async def reported(self, docket: Docket) -> list[str]:
        """The snapshot warnings and rejections workers reported, oldest first."""
        async with docket.redis() as redis:
            raw = await redis.lrange(self.warnings_key(docket), 0, -1)
        return [item.decode() if isinstance(item, bytes) else str(item) for item in raw]
