"""The sync variant of run_server_async: the server on its own loop in a background thread.

For sync tests, trio tests, and fixtures that must not depend on which async
plugin runs the test.  The thread's loop comes from a loop factory (the
selector loop on Windows, H8), and start-up and teardown keep the bounds of
run_server_async, plus the thread join.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pytest_ctxprop.harness.event_loop import run_with_loop_factory, windows_loop_factory
from pytest_ctxprop.harness.server import (
    ServerAddress,
    ServerStartTimeout,
    ServerStopTimeout,
    run_server_async,
)

__all__ = ["run_server"]

#: seconds allowed on top of the async bounds for the thread and its loop to finish; the
#: async layer abandons tasks that swallow cancellation, so the loop closes promptly
_JOIN_MARGIN = 1.0


@contextmanager
def run_server(
    target: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_timeout: float = 10.0,
    stop_timeout: float = 5.0,
    probe_interval: float = 0.01,
) -> Iterator[ServerAddress]:
    """Start ``target`` in a background thread; yield its address once ready; stop it at exit.

    Same targets, guarantees and errors as :func:`run_server_async`: the
    server's own start-up exception is re-raised here, in the caller's thread.
    Start-up returns or raises within ``ready_timeout + stop_timeout`` (plus a
    second for the thread), teardown within ``stop_timeout`` (plus that second).
    """
    started: concurrent.futures.Future[
        tuple[ServerAddress, asyncio.AbstractEventLoop, asyncio.Event]
    ]
    started = concurrent.futures.Future()
    failure: list[BaseException] = []

    finished = threading.Event()  # set when the server is down, before the loop closes

    async def main() -> None:
        stop = asyncio.Event()
        try:
            async with run_server_async(
                target,
                host=host,
                port=port,
                ready_timeout=ready_timeout,
                stop_timeout=stop_timeout,
                probe_interval=probe_interval,
            ) as address:
                started.set_result((address, asyncio.get_running_loop(), stop))
                await stop.wait()
        except BaseException as exc:
            if started.done():
                failure.append(exc)
            else:
                started.set_exception(exc)
        finally:
            finished.set()

    def thread_main() -> None:
        try:
            run_with_loop_factory(main(), windows_loop_factory())
        except BaseException as exc:  # the loop itself failed
            if not started.done():
                started.set_exception(exc)
            else:
                failure.append(exc)
        finally:
            finished.set()

    thread = threading.Thread(
        target=thread_main, name=f"ctxprop-server[{host}:{port}]", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + ready_timeout + stop_timeout + _JOIN_MARGIN
    concurrent.futures.wait([started], timeout=ready_timeout + stop_timeout + _JOIN_MARGIN)
    if not started.done():
        raise ServerStartTimeout(
            f"server thread for {host}:{port} neither started nor gave up within "
            f"{ready_timeout:g} s + {stop_timeout:g} s"
        )
    try:
        address, loop, stop = started.result()
    except BaseException:
        thread.join(max(0.0, deadline - time.monotonic()))
        raise
    try:
        yield address
    finally:
        loop.call_soon_threadsafe(stop.set)
        deadline = time.monotonic() + stop_timeout + _JOIN_MARGIN
        finished.wait(stop_timeout + _JOIN_MARGIN)
        # the loop closes promptly even after a ServerStopTimeout (the stubborn task was
        # abandoned), so the thread is joined within the same deadline
        thread.join(max(0.0, deadline - time.monotonic()))
        if failure:
            raise failure[0]
        if thread.is_alive():
            raise ServerStopTimeout(
                f"server thread for {address} still running {stop_timeout + _JOIN_MARGIN:g} s "
                "after it was told to stop"
            )
