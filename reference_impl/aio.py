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
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ctxprop_reference import token_dispatch

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


def create_task_in(context: contextvars.Context, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task that runs ``coro`` in ``context`` (3.11+), or in a copy of it (3.10).

    3.10's ``create_task`` has no ``context=``: the task copies the context it is
    created in, so a copy of ``context`` is what it gets; it holds the same values
    and nothing of the caller's.
    """
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 11):
        return loop.create_task(coro, context=context)
    return context.run(loop.create_task, coro)  # pragma: no cover - 3.10


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
    """A submitted awaited call: the task, what the caller had at submit, its lent tokens."""

    task: asyncio.Task[tuple[bool, Any, contextvars.Context]]
    before: dict[contextvars.ContextVar[Any], Any]
    #: the caller's tokens made resettable in the task, with their own stdlib tokens
    lent: list[tuple[Any, Any]] = field(default_factory=list)


class AwaitedCall:
    """The awaited-call model: submit now, and on ``result`` apply the task's changes."""

    def __init__(self, forward_only: Iterable[contextvars.ContextVar[Any]] = ()) -> None:
        self.forward_only: set[contextvars.ContextVar[Any]] = set(forward_only)

    def submit(self, fn: Callable[..., Coroutine[Any, Any, Any]], /, *args: Any) -> PendingCall:
        """Start the task in a copy of the caller's context.

        Reference Tokens the caller minted here and passes in can be reset by
        the task, once (T11; Python 3.11+, where a task's Context can be given).
        """
        before = dict(contextvars.copy_context())
        mine = [t for t in token_dispatch.tokens_in(args) if token_dispatch.minted_here(t)]
        if not mine or sys.version_info < (3, 11):
            return PendingCall(spawn(_run_and_capture(fn, args)), before)
        lent = [(t, t._stdlib_token) for t in mine]
        context = token_dispatch.bound_copy(mine)
        task = asyncio.get_running_loop().create_task(_run_and_capture(fn, args), context=context)
        return PendingCall(task, before, lent)

    async def result(self, call: PendingCall, timeout: float | None = None) -> Any:
        """Await the task; in the *current* (caller's) context, apply what it changed.

        The wait stays in the caller's own task (no ``wait_for``, which ran the
        awaitable in a new task, with a copied context, before Python 3.12).
        """
        await asyncio.wait({call.task}, timeout=timeout)
        if not call.task.done():
            raise TimeoutError(f"awaited call still running after {timeout}s")
        ok, value, after = call.task.result()
        for token, own in call.lent:  # unspent lent tokens reset here again, as before
            if not token._used:
                token._stdlib_token = own
        if not ok:  # documented rule (B5): a task that raises has its changes dropped
            raise value
        lent = {id(t) for t, _ in call.lent}
        minted = {
            id(t._var._stdlib_var): t for t in token_dispatch.tokens_in(value) if id(t) not in lent
        }
        for var, new in after.items():
            if var in self.forward_only:
                continue
            if var not in call.before or call.before[var] is not new:
                self.apply_change(var, new, minted.get(id(var)))
        return value

    def apply_change(self, var: contextvars.ContextVar[Any], new: Any, token: Any) -> None:
        """Set ``var`` to the task's ``new`` value in the caller's context.

        ``token``: a token the task minted for ``var`` and returned; setting the
        value through it makes it reset ``var`` here, to its pre-call value (T14).
        """
        if token is not None:
            token_dispatch.rebind_here(token, new)
        else:
            var.set(new)

    async def __call__(self, fn: Callable[..., Coroutine[Any, Any, T]], /, *args: Any) -> T:
        return await self.result(self.submit(fn, *args))  # type: ignore[no-any-return]
