"""Context-correct asyncio boundaries: spawn, offload, and an awaited call.

* :func:`spawn` starts a task in a copy of the caller's context taken now.
* :func:`offload` runs a sync callable in an executor with the awaiting caller's
  context (``loop.run_in_executor`` does not copy it).
* :class:`AwaitedCall` runs a coroutine function as a task and, when awaited,
  brings the task's changes back to the caller, like ``await coro()`` would:
  the ``awaited-call`` model.  Forward-only vars reach the task but never flow
  back; a task that raises has its changes dropped (documented rule, B5).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


if sys.version_info >= (3, 11):

    def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """``create_task`` with the context copied explicitly, on every Python version."""
        return asyncio.get_running_loop().create_task(
            coro, name=name, context=contextvars.copy_context()
        )

else:  # pragma: no cover - 3.10: create_task has no context=; it copies the current one

    def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """``create_task`` with the context copied explicitly, on every Python version."""
        return contextvars.copy_context().run(
            asyncio.get_running_loop().create_task, coro, name=name
        )


def offload(
    fn: Callable[..., T], /, *args: Any, executor: Executor | None = None
) -> asyncio.Future[T]:
    """``run_in_executor`` that runs ``fn`` in a copy of the awaiting caller's context."""
    context = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(executor, context.run, fn, *args)


async def _run_and_capture(
    fn: Callable[..., Coroutine[Any, Any, Any]], args: tuple[Any, ...]
) -> tuple[bool, Any, contextvars.Context]:
    """Run the task body; return its outcome and its context as it ended."""
    try:
        value = await fn(*args)
    except Exception as exc:
        return False, exc, contextvars.copy_context()
    return True, value, contextvars.copy_context()


@dataclass
class PendingCall:
    """A submitted awaited call: the task and what the caller had at submit."""

    task: asyncio.Task[tuple[bool, Any, contextvars.Context]]
    before: dict[contextvars.ContextVar[Any], Any]


class AwaitedCall:
    """The awaited-call model: submit now, and on ``result`` apply the task's changes."""

    def __init__(self, forward_only: Iterable[contextvars.ContextVar[Any]] = ()) -> None:
        self.forward_only: set[contextvars.ContextVar[Any]] = set(forward_only)

    def submit(self, fn: Callable[..., Coroutine[Any, Any, Any]], /, *args: Any) -> PendingCall:
        before = dict(contextvars.copy_context())
        return PendingCall(spawn(_run_and_capture(fn, args)), before)

    async def result(self, call: PendingCall, timeout: float | None = None) -> Any:
        """Await the task; in the *current* (caller's) context, apply what it changed.

        The wait stays in the caller's own task (no ``wait_for``, which ran the
        awaitable in a new task, with a copied context, before Python 3.12).
        """
        await asyncio.wait({call.task}, timeout=timeout)
        if not call.task.done():
            raise TimeoutError(f"awaited call still running after {timeout}s")
        ok, value, after = call.task.result()
        if not ok:
            raise value
        for var, new in after.items():
            if var in self.forward_only:
                continue
            if var not in call.before or call.before[var] is not new:
                var.set(new)
        return value

    async def __call__(self, fn: Callable[..., Coroutine[Any, Any, T]], /, *args: Any) -> T:
        return await self.result(self.submit(fn, *args))  # type: ignore[no-any-return]
