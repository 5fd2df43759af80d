"""Runtimes for scratch projects: copied into pytester directories as ``scratch.py``.

Each models one situation a downstream user meets: a correct runtime, one that
forgets the context, declared deviations (stale or not), one that hangs, one
that cannot exist here, and selections that are wrong.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar

from ctxprop_reference.adapters import ThreadPoolAdapter
from pytest_ctxprop import (
    AsyncRuntimeAdapter,
    RuntimeAdapter,
    RuntimeUnavailable,
    Traits,
    Unsupported,
    inconclusive,
)


class Good(ThreadPoolAdapter):
    """A correct runtime (the reference pool)."""


class Forgetful(ThreadPoolAdapter):
    """A plain thread pool: the caller's context never reaches the task."""

    executor = ThreadPoolExecutor


class DeviatesF1(Forgetful):
    """Declares the F1 failure it has (and only that one)."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, deviations={"F1": "we never copy the context"}
    )


class StaleDeviation(Good):
    """Declares a deviation for a property it passes."""

    traits: ClassVar[Traits] = Traits(
        model="copy", reuses_workers=True, deviations={"F3": "thought reset was broken"}
    )


class UnknownDeviation(Good):
    traits: ClassVar[Traits] = Traits(model="copy", deviations={"F99": "no such property"})


class Hangs(Good):
    """``result`` ignores its timeout and never returns."""

    def result(self, handle, timeout):
        threading.Event().wait()


class Broken(Good):
    """``submit`` itself blows up: the adapter, not the property, is broken."""

    def submit(self, fn, /, *args):
        raise RuntimeError("adapter exploded")


class NoServer(Good):
    """Its backing server is missing: nothing can be decided."""

    def start(self, *, workers, worker_init=None):
        inconclusive("no server at 127.0.0.1:1 (refused)")


class NeedsFuture(Good):
    def __init__(self):
        raise RuntimeUnavailable("needs Python 9")


def not_an_adapter() -> object:
    return object()


def raising_factory() -> Any:
    raise ValueError("bad configuration")


NOT_CALLABLE = 42


class Minimal(RuntimeAdapter):
    """The smallest adapter: a new thread per task, context copied."""

    def start(self, *, workers, worker_init=None):
        pass

    def stop(self):
        pass

    def submit(self, fn, /, *args):
        future: Future[Any] = Future()
        ctx = contextvars.copy_context()

        def run():
            try:
                future.set_result(ctx.run(fn, *args))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, daemon=True).start()
        return future

    def result(self, handle, timeout):
        return handle.result(timeout)


class TrioSpawn(AsyncRuntimeAdapter):
    """A trio runtime: tasks are system tasks spawned with a copy of the caller's context."""

    backend = "trio"
    task_kind = "async"

    def _task_context(self):
        return contextvars.copy_context()

    async def start(self, *, workers, worker_init=None):
        if worker_init is not None:
            raise Unsupported("tasks run on the caller's trio run: there is no worker start")

    async def stop(self):
        pass

    async def submit(self, fn, /, *args):
        import trio

        handle = {"done": trio.Event(), "scope": trio.CancelScope()}

        async def run():
            with handle["scope"]:
                try:
                    handle["value"] = await fn(*args)
                except BaseException as exc:
                    handle["error"] = exc
            handle["done"].set()

        trio.lowlevel.spawn_system_task(run, context=self._task_context())
        return handle

    async def result(self, handle, timeout):
        import trio

        with trio.fail_after(timeout):
            await handle["done"].wait()
        if "error" in handle:
            raise handle["error"]
        return handle.get("value")

    async def cancel(self, handle, timeout):
        import trio

        handle["scope"].cancel()
        with trio.fail_after(timeout):
            await handle["done"].wait()


class TrioForgetful(TrioSpawn):
    """The same, spawned in an empty context: the caller's values are lost."""

    def _task_context(self):
        return contextvars.Context()


class ExitsInWorker(Good):
    """A worker thread ends the whole process (``os._exit``) while a check waits."""

    def submit(self, fn, /, *args):
        import os

        worker = threading.Thread(target=os._exit, args=(7,))
        worker.start()
        worker.join()


class FreezesProcess(Good):
    """Stops its own process (SIGSTOP): a hang no in-process bound can end."""

    def submit(self, fn, /, *args):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSTOP)
