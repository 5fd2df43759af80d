"""arq rows: no ``error``, F1 agrees with a direct measurement, ``+ctxprop`` passes all.

The direct measurement uses arq as its docs say, without the suite: a
``Worker`` in a process of its own (what ``arq WorkerSettings`` runs), jobs
enqueued with ``ArqRedis.enqueue_job``.  Does the job see the sender's value?
arq needs a real Redis (its worker sends INFO, which fakeredis lacks):
``$CTXPROP_REDIS_URL``, or a ``redis-server`` this module starts.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import os
import pickle
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ecosystem_inner_session import run_rows

pytest.importorskip("arq")
if not os.environ.get("CTXPROP_REDIS_URL") and shutil.which("redis-server") is None:
    pytest.skip("arq needs a real Redis: no redis-server on PATH and no CTXPROP_REDIS_URL",
                allow_module_level=True)  # fmt: skip

MODULE = "ctxprop_conformance.ecosystem.arq_runtimes"
ROWS = {"arq.worker": f"{MODULE}:ArqWorker", "arq.worker+ctxprop": f"{MODULE}:ArqWorkerCtxprop"}
DOC = Path(__file__).parents[2] / "docs" / "integrations" / "arq.md"
V: contextvars.ContextVar[str] = contextvars.ContextVar("arq_direct_V")
U: contextvars.ContextVar[str] = contextvars.ContextVar("arq_direct_U", default="<unset>")

#: a worker process as ``arq WorkerSettings`` runs one; it is serving (one job done) before V is set
DIRECT = r"""
import asyncio, contextvars, multiprocessing, sys, uuid
from arq.connections import RedisSettings, create_pool
from arq.jobs import ResultNotFound
from arq.worker import Worker

V = contextvars.ContextVar("direct_V")


async def read_v(ctx):
    return V.get("<unset>")


def serve(url, queue):
    async def work():
        await Worker(functions=[read_v], queue_name=queue, poll_delay=0.01, handle_signals=False,
                     redis_settings=RedisSettings.from_dsn(url)).async_run()

    asyncio.run(work())


async def ask(redis):
    job = await redis.enqueue_job("read_v")
    try:
        return await job.result(timeout=60, poll_delay=0.01)
    except ResultNotFound:  # arq 0.25 reads the result and the queue entry apart
        return (await job.result_info()).result


async def measure(url):
    queue = f"direct-{uuid.uuid4().hex}"
    redis = await create_pool(RedisSettings.from_dsn(url), default_queue_name=queue)
    worker = multiprocessing.get_context("spawn").Process(target=serve, args=(url, queue))
    worker.start()
    try:
        await ask(redis)
        V.set("a")
        return await ask(redis)
    finally:
        worker.kill()
        worker.join(10)
        await redis.aclose()


if __name__ == "__main__":
    print(asyncio.run(measure(sys.argv[1])))
"""


def _start_redis(
    server: str, timeout: float = 20.0
) -> tuple[subprocess.Popen[bytes], threading.Thread, str]:
    """A private redis-server; ready when it logs so (its own readiness line), bounded."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
    )  # fmt: skip
    assert proc.stdout is not None
    seen, deadline = b"", time.monotonic() + timeout
    while b"Ready to accept connections" not in seen:
        left = deadline - time.monotonic()
        readable = select.select([proc.stdout], [], [], max(left, 0))[0]
        chunk = os.read(proc.stdout.fileno(), 4096) if readable else b""
        if not chunk:
            proc.kill()
            proc.wait(5)
            proc.stdout.close()
            pytest.fail(f"redis-server did not get ready on port {port}: {seen[-500:]!r}")
        seen += chunk
    drain = threading.Thread(target=proc.stdout.read, daemon=True)  # keep its pipe drained
    drain.start()
    return proc, drain, f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    url = os.environ.get("CTXPROP_REDIS_URL")
    if url:
        yield url
        return
    proc, drain, url = _start_redis(shutil.which("redis-server") or "redis-server")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        drain.join(5)  # the pipe ends with the server
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, tuple[str, str]]]:
    specs = (f"{n}={s}" for n, s in ROWS.items())
    table = run_rows(tmp_path_factory.mktemp("arq"), specs)
    return {
        rt: {p: (r["verdict"], r["reason"]) for p, r in row.items()} for rt, row in table.items()
    }


def _script(tmp: Path, name: str, text: str, *args: str, env: dict[str, str] | None = None) -> str:
    (tmp / name).write_text(text, encoding="utf-8")
    proc = subprocess.run([sys.executable, name, *args], cwd=tmp, capture_output=True, text=True,
                          timeout=120, check=False, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_no_row_has_an_error(rows: dict[str, dict[str, tuple[str, str]]]) -> None:
    assert set(rows) == set(ROWS)
    errors = {(r, p) for r, row in rows.items() for p, (v, _) in row.items() if v == "error"}
    assert not errors


def test_plain_f1_agrees_with_a_direct_measurement(
    rows: dict[str, dict[str, tuple[str, str]]], redis_url: str, tmp_path: Path
) -> None:
    seen = _script(tmp_path, "direct_arq.py", DIRECT, redis_url).strip().splitlines()[-1]
    assert rows["arq.worker"]["F1"][0] == ("pass" if seen == "a" else "fail"), seen


def test_ctxprop_row_passes_every_applicable_property(
    rows: dict[str, dict[str, tuple[str, str]]],
) -> None:
    row = rows["arq.worker+ctxprop"]
    assert {p: v for p, (v, _) in row.items() if v not in ("pass", "n/a")} == {}
    assert row["F1"][0] == row["F9"][0] == row["I3"][0] == "pass"
    assert "task saw W=<unset>" in row["I6"][1]  # a fresh Context: the worker's value is not there


def _serializer() -> Any:
    from ctxprop_reference.snapshot import SnapshotSerializer, VarRegistry

    registry = VarRegistry()
    registry.register(V, "tests:arq_V")
    return SnapshotSerializer(registry, signing_key=b"k" * 32)


def _record(serializer: Any, job_id: str, value: str | None) -> str:
    """The argument ``enqueue_job`` sends, captured in a caller context holding ``value``."""

    def capture() -> bytes:
        if value is not None:
            V.set(value)
        return bytes(serializer.dumps(job_id))

    return base64.b64encode(contextvars.Context().run(capture)).decode("ascii")


def _as_worker(job: Any, job_id: str, record: str) -> Any:
    """Run the wrapped job where the worker's own context holds V=w and U=w."""

    async def worker_task() -> Any:
        V.set("w")
        U.set("w")
        return await job({"job_id": job_id}, ctxprop_snapshot=record)

    return contextvars.Context().run(asyncio.run, worker_task())


def test_the_job_runs_in_a_fresh_context_from_its_snapshot_only() -> None:
    from ctxprop_reference.integrations.arq import with_context

    async def read(ctx: dict[str, Any]) -> tuple[str, str]:
        return V.get("<unset>"), U.get()

    serializer = _serializer()
    job = with_context(serializer, read)
    assert _as_worker(job, "j1", _record(serializer, "j1", "a")) == ("a", "<unset>")
    # the caller had V unset: the worker's V=w must not show through either
    assert _as_worker(job, "j2", _record(serializer, "j2", None)) == ("<unset>", "<unset>")


def test_a_refused_snapshot_fails_the_job_with_an_error_naming_it() -> None:
    from ctxprop_reference.integrations.arq import SnapshotRefusedError, with_context

    async def read(ctx: dict[str, Any]) -> str:
        raise AssertionError("a refused job must not run")

    serializer = _serializer()
    job = with_context(serializer, read)
    with pytest.raises(SnapshotRefusedError, match="rejected the snapshot") as caught:
        _as_worker(job, "j2", _record(serializer, "j1", "a"))  # another job's record
    # arq pickles a job's exception as its result: the caller's job.result() raises it again
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is SnapshotRefusedError
    assert str(again) == str(caught.value)


def test_doc_example_runs(redis_url: str, tmp_path: Path) -> None:
    """Every fenced python block of docs/integrations/arq.md, as a program."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    env = {**os.environ, "REDIS_URL": redis_url}
    out = _script(tmp_path, "example.py", "\n".join(blocks), env=env)
    assert "before: None" in out
    assert "after: req-7f3a" in out


def test_importing_the_integration_does_not_import_arq() -> None:
    code = ("import sys, ctxprop_reference.integrations.arq as m; "
            "assert 'arq' not in sys.modules, 'imported'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
