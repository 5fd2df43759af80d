"""Context-correct threads and thread pools: the fix a runtime author can import.

Both capture the caller's context when work is *submitted* and run the work in
that copy, so a value set later in the caller (F2), a value the pool's creator
had (F7) or a value an earlier task set on the same worker (I3) never leaks in.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ContextThread(threading.Thread):
    """A ``threading.Thread`` whose target runs in a copy of the creator's context.

    The copy is taken when the thread object is created (the moment of submit),
    not when it starts, like ``Thread(context=...)`` on Python 3.14.
    """

    def __init__(
        self,
        group: None = None,
        target: Callable[..., object] | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        daemon: bool | None = None,
        context: contextvars.Context | None = None,
    ) -> None:
        super().__init__(group, target, name, args, kwargs, daemon=daemon)
        self._ctxprop_context = context if context is not None else contextvars.copy_context()

    def run(self) -> None:
        self._ctxprop_context.run(super().run)


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in a copy of the submitter's context.

    Each task gets its own copy, taken at ``submit``; the worker thread's own
    context (whatever its creator or initializer set) is never what a task sees.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)


class RegisteredVarsThreadPoolExecutor(ThreadPoolExecutor):
    """A pool that carries only registered vars, as a cross-process runtime must.

    At submit it snapshots the registered vars that have a value; the task runs
    in a fresh context holding just those.  An unregistered var stays at its
    default in the task (F9): over-propagation is a bug too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._registered: list[contextvars.ContextVar[Any]] = []

    def register(self, var: contextvars.ContextVar[Any]) -> None:
        if var not in self._registered:
            self._registered.append(var)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        current = contextvars.copy_context()
        snapshot = [(var, current[var]) for var in self._registered if var in current]
        return super().submit(_run_with, snapshot, fn, *args, **kwargs)


def _run_with(
    snapshot: list[tuple[contextvars.ContextVar[Any], Any]],
    fn: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    def body() -> T:
        for var, value in snapshot:
            var.set(value)
        return fn(*args, **kwargs)

    return contextvars.Context().run(body)
