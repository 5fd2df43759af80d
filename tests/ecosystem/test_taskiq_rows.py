"""taskiq rows: no ``error``, F1 agrees with a direct measurement, ``+ctxprop`` passes all.

The direct measurements use taskiq as its docs say, without the suite: the
InMemoryBroker in this process, and a taskiq-redis ``ListQueueBroker`` with a
worker process running ``run_receiver_task`` (what ``taskiq worker`` runs), as
the row does.  Does the task see the sender's value?
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ecosystem_inner_session import run_rows

taskiq = pytest.importorskip("taskiq")
pytest.importorskip("taskiq_redis")

MODULE = "ctxprop_conformance.ecosystem.taskiq_runtimes"
ROWS = {
    "taskiq.inmemory": f"{MODULE}:TaskiqInMemory",
    "taskiq.redis": f"{MODULE}:TaskiqRedis",
    "taskiq.redis+ctxprop": f"{MODULE}:TaskiqRedisCtxprop",
}
DOC = Path(__file__).parents[2] / "docs" / "integrations" / "taskiq.md"
V: contextvars.ContextVar[str] = contextvars.ContextVar("taskiq_direct_V")
U: contextvars.ContextVar[str] = contextvars.ContextVar("taskiq_direct_U", default="<unset>")

#: a worker process as ``taskiq worker`` runs one; it is serving (one task done) before V is set
DIRECT = r"""
import asyncio, contextvars, multiprocessing, sys
from taskiq.api import run_receiver_task
from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend
from ctxprop_reference.redis_queue_embedded import embedded_redis_url

V = contextvars.ContextVar("direct_V")


def make(url):
    backend = RedisAsyncResultBackend(redis_url=url)
    broker = ListQueueBroker(url, queue_name="direct").with_result_backend(backend)

    @broker.task(task_name="read_v")
    async def read_v():
        return V.get("<unset>")

    return broker, read_v


def serve(url):
    broker, _ = make(url)
    broker.is_worker_process = True

    async def work():
        await broker.startup()
        await run_receiver_task(broker)

    asyncio.run(work())


async def ask(task):
    result = await (await task.kiq()).wait_result(check_interval=0.01, timeout=60)
    return result.raise_for_error().return_value


async def measure(url):
    broker, task = make(url)
    await broker.startup()
    worker = multiprocessing.get_context("spawn").Process(target=serve, args=(url,), daemon=True)
    worker.start()
    try:
        await ask(task)
        V.set("a")
        return await ask(task)
    finally:
        worker.kill()
        worker.join(10)
        await broker.shutdown()


if __name__ == "__main__":
    print(asyncio.run(measure(embedded_redis_url())))
"""


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, tuple[str, str]]]:
    specs = (f"{n}={s}" for n, s in ROWS.items())
    table = run_rows(tmp_path_factory.mktemp("taskiq"), specs)
    return {
        rt: {p: (r["verdict"], r["reason"]) for p, r in row.items()} for rt, row in table.items()
    }


def _direct_in_memory() -> str:
    from taskiq import InMemoryBroker

    broker = InMemoryBroker()
    task = broker.register_task(lambda: V.get("<unset>"), task_name="direct_read")

    async def measure() -> str:
        await broker.startup()
        try:
            V.set("a")
            return str((await (await task.kiq()).wait_result(timeout=10)).return_value)
        finally:
            await broker.shutdown()

    return asyncio.run(measure())


def _direct_redis(tmp: Path) -> str:
    (tmp / "direct_taskiq.py").write_text(DIRECT, encoding="utf-8")
    proc = subprocess.run([sys.executable, "direct_taskiq.py"], cwd=tmp, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_no_row_has_an_error(rows: dict[str, dict[str, tuple[str, str]]]) -> None:
    assert set(rows) == set(ROWS)
    errors = {(r, p) for r, row in rows.items() for p, (v, _) in row.items() if v == "error"}
    assert not errors


@pytest.mark.parametrize("name", ["taskiq.inmemory", "taskiq.redis"])
def test_plain_f1_agrees_with_a_direct_measurement(
    name: str, rows: dict[str, dict[str, tuple[str, str]]], tmp_path: Path
) -> None:
    if name == "taskiq.inmemory":
        seen = contextvars.Context().run(_direct_in_memory)
    else:
        seen = _direct_redis(tmp_path)
    assert rows[name]["F1"][0] == ("pass" if seen == "a" else "fail"), seen


def test_ctxprop_row_passes_every_applicable_property(
    rows: dict[str, dict[str, tuple[str, str]]],
) -> None:
    row = rows["taskiq.redis+ctxprop"]
    assert {p: v for p, (v, _) in row.items() if v not in ("pass", "n/a")} == {}
    assert row["F1"][0] == row["F9"][0] == row["I3"][0] == "pass"
    assert "task saw W=<unset>" in row["I6"][1]  # a fresh Context: the worker's value is not there


def _in_memory_with(middlewares: list[object]) -> object:
    """A task on an InMemoryBroker with ``middlewares``: what it saw, or the error it raised."""
    from taskiq import InMemoryBroker

    broker = InMemoryBroker().with_middlewares(*middlewares)
    task = broker.register_task(lambda: (V.get("<unset>"), U.get()), task_name="direct_pair")

    async def measure() -> object:
        await broker.startup()
        try:
            V.set("a")
            U.set("caller")  # not registered: must not reach the task (F9)
            result = await (await task.kiq()).wait_result(timeout=10)
            return result.error if result.is_err else tuple(result.return_value)
        finally:
            await broker.shutdown()

    return contextvars.Context().run(asyncio.run, measure())


def _serializer(key: bytes) -> Any:
    from ctxprop_reference.snapshot import SnapshotSerializer, VarRegistry

    registry = VarRegistry()
    registry.register(V, "tests:taskiq_V")
    return SnapshotSerializer(registry, signing_key=key)


def test_the_task_runs_in_a_fresh_context_from_its_snapshot_only() -> None:
    """InMemoryBroker runs the message in a copy of the caller's context: U would show through."""
    from ctxprop_reference.integrations.taskiq import ContextMiddleware

    assert _in_memory_with([]) == ("a", "caller")
    assert _in_memory_with([ContextMiddleware(_serializer(b"k" * 32))]) == ("a", "<unset>")


def test_a_refused_snapshot_fails_the_task_with_an_error_naming_it() -> None:
    from taskiq import TaskiqMiddleware
    from taskiq.serialization import exception_to_python, prepare_exception

    from ctxprop_reference.integrations.taskiq import LABEL, ContextMiddleware, SnapshotRefusedError

    class Tamper(TaskiqMiddleware):  # type: ignore[misc]
        def pre_send(self, message: object) -> object:
            labels = message.labels  # type: ignore[attr-defined]
            tail = "AAAA" if labels[LABEL][-4:] != "AAAA" else "BBBB"
            labels[LABEL] = labels[LABEL][:-4] + tail  # one base64 group changed: tampered
            return message

    error = _in_memory_with([ContextMiddleware(_serializer(b"k" * 32)), Tamper()])
    assert isinstance(error, SnapshotRefusedError), error
    assert "rejected the snapshot" in str(error)
    # what a result backend does with it: pickled (taskiq-redis) or as JSON, rebuilt as itself
    assert isinstance(pickle.loads(pickle.dumps(error)), SnapshotRefusedError)
    rebuilt = exception_to_python(prepare_exception(error, json))
    assert type(rebuilt) is SnapshotRefusedError
    assert str(rebuilt) == str(error)


def test_doc_example_runs(tmp_path: Path) -> None:
    """Every fenced python block of docs/integrations/taskiq.md, as a program."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    script = tmp_path / "example.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "before: None" in proc.stdout
    assert "after: req-7f3a" in proc.stdout


def test_importing_the_integration_does_not_import_taskiq() -> None:
    code = ("import sys, ctxprop_reference.integrations.taskiq as m; "
            "assert 'taskiq' not in sys.modules, 'imported'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
