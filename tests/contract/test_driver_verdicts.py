"""Verdict classes: the runtime not delivering is ``fail``, the adapter breaking is ``error``.

Each adapter here breaks the contract one way; the check must end within its
bound with the right exception, naming the method.  Hung calls block on events
that the test sets afterwards, so no thread outlives the test.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from ctxprop_conformance import probes
from ctxprop_conformance.caller import Caller
from ctxprop_conformance.subject import RuntimeUnderTest
from pytest_ctxprop._verdicts import AdapterError, PropertyViolation
from pytest_ctxprop.adapter import AsyncRuntimeAdapter, RuntimeAdapter, Traits, WorkerInit

BOUND = 1.0


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """What hung adapters block on; set at teardown so their threads end."""
    event = threading.Event()
    yield event
    event.set()


class Pool(RuntimeAdapter):
    """A correct pool; each test breaks one method."""

    traits: ClassVar[Traits] = Traits()
    hang: ClassVar[threading.Event | None] = None

    def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
        self.pool = ThreadPoolExecutor(workers)

    def stop(self) -> None:
        self.pool.shutdown(wait=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.pool.submit(contextvars.copy_context().run, fn, *args)

    def result(self, handle: Future[Any], timeout: float) -> Any:
        return handle.result(timeout)


def _run(factory: type, scenario: Any = None) -> Any:
    async def read_v(caller: Caller) -> Any:
        probes.V.set("a")
        return await caller.call(probes.READ, ["V"], step="task reads V")

    rt = RuntimeUnderTest(f"rt-{factory.__name__}", factory, factory.traits, BOUND)
    return rt.run("F1", scenario or read_v)


def test_submit_returning_none_is_an_adapter_error_naming_submit() -> None:
    class NoneHandle(Pool):
        def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
            super().submit(fn, *args)

    with pytest.raises(AdapterError, match=r"submit\(\) returned None") as raised:
        _run(NoneHandle)
    assert raised.value.method == "submit"


def test_result_returning_what_the_task_did_not_is_an_adapter_error() -> None:
    class WrongValue(Pool):
        def result(self, handle: Future[Any], timeout: float) -> Any:
            handle.result(timeout)
            return 42

    with pytest.raises(AdapterError, match=r"result\(\) returned 42") as raised:
        _run(WrongValue)
    assert raised.value.method == "result"


def test_adapter_code_raising_is_an_error_with_its_traceback() -> None:
    class CannotReadHandle(Pool):
        def result(self, handle: Any, timeout: float) -> Any:
            return handle.value  # a Future has no .value

    with pytest.raises(AdapterError) as raised:
        _run(CannotReadHandle)
    assert raised.value.method == "result"
    message = str(raised.value)
    assert "AttributeError" in message
    assert "return handle.value" in message  # the adapter's own frame
    assert "ctxprop_conformance" not in message.split("\n", 1)[1]  # not the suite's frames


def test_runtime_raising_is_a_fail_naming_the_step() -> None:
    class Refuses(Pool):
        def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
            return self.pool.submit(_runtime_refuses)

    with pytest.raises(PropertyViolation) as raised:
        _run(Refuses)
    assert "task reads V (probe read)" in str(raised.value)
    assert "the runtime raised RuntimeError: queue is full" in str(raised.value)


def _runtime_refuses() -> None:
    raise RuntimeError("queue is full")


def test_result_timing_out_is_a_fail(release: threading.Event) -> None:
    class Drops(Pool):
        def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
            return Future()  # the runtime dropped the task

    with pytest.raises(PropertyViolation, match="not finished within the bound"):
        _run(Drops)


def test_hung_result_is_an_error_naming_result_within_the_bound(release: threading.Event) -> None:
    class Hangs(Pool):
        def result(self, handle: Future[Any], timeout: float) -> Any:
            release.wait()  # ignores its timeout

    with pytest.raises(AdapterError, match=r"result\(\) for task reads V.*hung") as raised:
        _run(Hangs)
    assert raised.value.method == "result"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_stop_raising_is_never_swallowed(kind: str) -> None:
    class StopRaises(Pool):
        def stop(self) -> None:
            super().stop()
            raise OSError("socket already closed")

    class AsyncStopRaises(AsyncRuntimeAdapter):
        traits: ClassVar[Traits] = Traits()
        task_kind: ClassVar[str] = "async"  # type: ignore[misc]

        async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
            pass

        async def stop(self) -> None:
            raise OSError("socket already closed")

        async def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
            return await fn(*args)

    factory = StopRaises if kind == "sync" else AsyncStopRaises
    with pytest.raises(AdapterError, match=r"stop\(\) of the adapter raised OSError") as raised:
        _run(factory)
    assert raised.value.method == "stop"


def test_start_raising_names_start_and_shows_the_traceback_once() -> None:
    class StartRaises(Pool):
        def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
            raise ValueError("no broker at localhost:1")

    rt = RuntimeUnderTest("start-raises", StartRaises, StartRaises.traits, BOUND)
    messages = []
    for pid in ("F1", "F3"):
        with pytest.raises(AdapterError) as raised:
            rt.run(pid, lambda caller: caller.call(probes.READ, [], step="read"))
        assert raised.value.method == "start"
        messages.append(str(raised.value))
    assert messages[0].startswith("start() of the adapter raised ValueError: no broker")
    assert 'raise ValueError("no broker at localhost:1")' in messages[0]
    assert messages[1] == (
        "start() of the adapter raised ValueError: no broker at localhost:1 (traceback shown at F1)"
    )


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_slow_start_leaves_the_scenario_its_whole_bound(kind: str) -> None:
    """``start`` has a bound of its own: a pool that takes most of it to come up (worker
    processes on a loaded machine) must not shorten the scenario's waits."""
    slow = 0.8 * BOUND  # a start that takes most of the bound (a stand-in for process spawns)

    class SlowStart(Pool):
        def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
            threading.Event().wait(slow)
            super().start(workers=workers, worker_init=worker_init)

    class AsyncSlowStart(AsyncRuntimeAdapter):
        traits: ClassVar[Traits] = Traits()
        task_kind: ClassVar[str] = "async"  # type: ignore[misc]

        async def start(self, *, workers: int, worker_init: WorkerInit | None = None) -> None:
            import anyio

            await anyio.sleep(slow)

        async def stop(self) -> None:
            pass

        async def call(self, fn: Callable[..., Any], /, *args: Any, timeout: float) -> Any:
            return await fn(*args)

    async def remaining(caller: Caller) -> float:
        return caller.remaining()

    left = _run(SlowStart if kind == "sync" else AsyncSlowStart, remaining)
    assert left > BOUND - slow + 0.1  # a fresh bound: nearly BOUND, where one shared bound left 0.2
