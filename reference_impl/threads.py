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
