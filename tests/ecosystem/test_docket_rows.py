"""The pydocket rows: no ``error``, F1 agrees with a direct measurement, ``+ctxprop`` all green.

The direct measurement uses docket as its documentation says, without the
suite: a worker (a task of the loop for ``memory://``, a process running
docket's ``Worker.run`` for Redis) is started first, then the caller sets a
var and adds a task that reads it.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import re
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ecosystem_inner_session import run_rows

pytest.importorskip("docket")
pytest.importorskip("lupa")  # docket's Lua scripts on the embedded fakeredis

ROOT = Path(__file__).resolve().parents[2]
MODULE = "ctxprop_conformance.ecosystem.docket_runtimes"
ROWS = {
    "docket.memory": f"{MODULE}:DocketMemory",
    "docket.redis": f"{MODULE}:DocketRedis",
    "docket.redis+ctxprop": f"{MODULE}:DocketRedisCtxprop",
}
TASK_MODULE = textwrap.dedent(
    """
    import contextvars

    V = contextvars.ContextVar("direct_docket_V")


    async def read_v() -> str:
        return V.get("<unset>")


    TASKS = [read_v]
    """
)


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    return run_rows(tmp_path_factory.mktemp("docket"), (f"{n}={s}" for n, s in ROWS.items()))


async def _direct_memory() -> str:
    from docket import Docket, Worker

    name = f"direct-{uuid.uuid4().hex[:8]}"
    url = f"memory://{name}"
    mod = _task_module()
    async with Docket(name=name, url=url) as docket:
        docket.register(mod.read_v)

        async def serve() -> None:
            async with Docket(name=name, url=url) as worker_docket:
                worker_docket.register(mod.read_v)
                async with Worker(worker_docket) as worker:
                    await worker.run_forever()

        worker = asyncio.create_task(serve())
        try:
            mod.V.set("a")
            execution = await docket.add(mod.read_v)()
            return str(await execution.get_result(timeout=timedelta(seconds=20)))
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)


def _task_module() -> Any:
    import importlib

    return importlib.import_module("ctxprop_direct_docket_tasks")


async def _direct_redis(task_dir: Path) -> str:
    from docket import Docket

    from ctxprop_reference.redis_queue import embedded_redis_url

    url = os.environ.get("CTXPROP_REDIS_URL") or embedded_redis_url()
    name = f"direct-{uuid.uuid4().hex[:8]}"
    code = (
        "import asyncio; from docket import Worker; asyncio.run(Worker.run("
        f"docket_name={name!r}, url={url!r}, tasks=['ctxprop_direct_docket_tasks:TASKS']))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(task_dir), *sys.path])}
    worker = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL)
    try:
        mod = _task_module()
        async with Docket(name=name, url=url) as docket:
            docket.register(mod.read_v)
            warm = await docket.add(mod.read_v)()  # the worker serves before V is set
            await warm.get_result(timeout=timedelta(seconds=60))
            mod.V.set("a")
            execution = await docket.add(mod.read_v)()
            return str(await execution.get_result(timeout=timedelta(seconds=20)))
    finally:
        worker.terminate()
        worker.wait(10)


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("docket_tasks")
    (where / "ctxprop_direct_docket_tasks.py").write_text(TASK_MODULE, encoding="utf-8")
    sys.path.insert(0, str(where))
    return where


@pytest.mark.parametrize("name", sorted(ROWS))
def test_row_has_no_error(name: str, rows: dict[str, dict[str, dict[str, Any]]]) -> None:
    errors = {p: r["reason"][:300] for p, r in rows[name].items() if r["verdict"] == "error"}
    assert not errors


@pytest.mark.parametrize("name", ["docket.memory", "docket.redis"])
def test_f1_agrees_with_a_direct_measurement(
    name: str, rows: dict[str, dict[str, dict[str, Any]]], task_dir: Path
) -> None:
    direct = _direct_memory() if name == "docket.memory" else _direct_redis(task_dir)
    seen = contextvars.Context().run(asyncio.run, direct)
    expected = "pass" if seen == "a" else "fail"
    assert rows[name]["F1"]["verdict"] == expected, f"direct measurement saw V={seen!r}"


def test_with_ctxprop_row_passes_every_applicable_property(
    rows: dict[str, dict[str, dict[str, Any]]],
) -> None:
    verdicts = {p: r["verdict"] for p, r in rows["docket.redis+ctxprop"].items()}
    assert set(verdicts.values()) <= {"pass", "n/a"}, verdicts
    for prop in ("F1", "F2", "F6", "F9", "I3", "S3", "S4"):
        assert verdicts[prop] == "pass", prop


def test_the_docs_example_runs() -> None:
    text = (ROOT / "docs" / "integrations" / "docket.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/integrations/docket.md", "exec"), {"__name__": "docs_docket"})
