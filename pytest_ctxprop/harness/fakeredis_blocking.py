"""Make fakeredis's blocking reads block, without spinning, on versions where they do not (H6).

Two upstream defects made consumers built on fakeredis burn a core
(FastMCP/docket workers, e.g. sooperset/mcp-atlassian#868):

* cunla/fakeredis-py#453 (fixed for XREAD by #455): ``XREAD`` with ``BLOCK``
  on an empty stream replied at once with an empty result instead of
  waiting, so a worker looping on it spun at 100% CPU.  The same defect is
  still there for ``XREADGROUP ... COUNT n BLOCK ms`` in fakeredis 2.40: the
  first pass returns ``{}`` rather than "nothing yet" (a side effect of the
  #344/#346 COUNT fix), so ``_blocking`` replies immediately.
* cunla/fakeredis-py#506: the asyncio client waited for every reply by polling
  its queue with ``asyncio.sleep(0.01)``, waking the loop 100 times a second
  for as long as a blocking command waited.

Nothing here is applied blindly: :func:`probe` runs the blocking reads against
a private fake server and measures what they do (does each wait out its
timeout? how often does the event loop wake meanwhile?), and
:func:`apply_blocking_patch` installs only the fixes for defects it observed;
where fakeredis is already right it does nothing.  fakeredis and redis are
imported on first use only.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BlockingPatchReport",
    "apply_blocking_patch",
    "blocking_patch",
    "probe",
    "remove_blocking_patch",
]

# The probe decides by counting, with margins that hold on a loaded machine: a correct
# blocking read takes its whole timeout and wakes the loop a fixed handful of times
# (6 on fakeredis 2.41, however long it waits); an early reply comes back in well under
# a millisecond, and a 10 ms poll wakes the loop ~45 times in 150 ms (>= 15 even when
# the process gets a third of a core).
_PROBE_BLOCK_MS = 100  # how long each sync probe read blocks; "early" is under half of it
_PROBE_ASYNC_BLOCK_MS = 150  # how long the async probe read blocks
_MAX_PROBE_WAKEUPS = 12  # loop wake-ups tolerated during the async probe read
_originals: dict[tuple[type, str], Any] = {}  # (class, attribute) -> what the patch replaced
_lock = threading.Lock()


@dataclass(frozen=True)
class BlockingPatchReport:
    """What the probe saw and which fixes are installed."""

    returns_early: bool  # a blocking read replied before its timeout (fakeredis#453)
    polls: bool  # the async client polled while waiting (fakeredis#506)
    applied: tuple[str, ...] = ()
    left_alone: tuple[str, ...] = ()  # reads a fix was needed for but cannot be given

    @property
    def needed(self) -> bool:
        """Whether the installed fakeredis needs any fix."""
        return self.returns_early or self.polls


class _CountingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Counts how often the event loop wakes up."""

    calls = 0

    def select(self, timeout: float | None = None) -> Any:
        self.calls += 1
        return super().select(timeout)


def _first_definer(cls: type, name: str) -> type:
    """The class in ``cls``'s MRO that defines ``name`` (the one to patch)."""
    return next(k for k in cls.__mro__ if name in vars(k))


def _connection_args(get_connection: Callable[..., Any]) -> tuple[str, ...]:
    """redis-py < 5.3 wants a command name for ``get_connection``; later versions take none."""
    import inspect

    param = inspect.signature(get_connection).parameters.get("command_name")
    required = param is not None and param.default is inspect.Parameter.empty
    return ("PING",) if required else ()


def _sync_classes() -> type:
    """The fake socket class behind the sync client that implements ``_blocking``."""
    import fakeredis

    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    pool = client.connection_pool
    conn = pool.get_connection(*_connection_args(pool.get_connection))
    try:
        return _first_definer(type(conn._sock), "_blocking")
    finally:
        client.connection_pool.release(conn)
        client.close()


def _probe_returns_early() -> bool:
    """Do XREAD / XREADGROUP with BLOCK reply before their timeout on an empty stream?"""
    import fakeredis

    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        client.xgroup_create("probe", "g", id="$", mkstream=True)
        reads: list[Callable[[], Any]] = [
            lambda: client.xread({"probe": "$"}, block=_PROBE_BLOCK_MS),
            lambda: client.xreadgroup("g", "c", {"probe": ">"}, count=1, block=_PROBE_BLOCK_MS),
        ]
        for read in reads:
            start = time.monotonic()
            read()
            if time.monotonic() - start < _PROBE_BLOCK_MS / 2000:
                return True
        return False
    finally:
        client.close()


def _probe_polls(*, measure: bool = True) -> tuple[bool, type, type]:
    """Does the asyncio client wake the loop repeatedly while a BLPOP waits?

    Runs on a private loop in its own thread, so it works from inside a running loop too.
    Returns (polls, async socket class, async connection class); ``measure=False`` only
    finds the classes (polls is then False).
    """
    import fakeredis

    selector = _CountingSelector()
    result: dict[str, Any] = {}

    async def main() -> None:
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
        try:
            await client.ping()  # connect first: only the wait itself is counted
            pool = client.connection_pool
            conn = await pool.get_connection(*_connection_args(pool.get_connection))
            result["sock"] = _first_definer(type(conn._sock), "put_response")
            result["conn"] = _first_definer(type(conn), "can_read")
            await client.connection_pool.release(conn)
            if not measure:
                result["wakeups"] = 0
                return
            before = selector.calls
            await client.blpop(["probe"], timeout=_PROBE_ASYNC_BLOCK_MS / 1000)
            result["wakeups"] = selector.calls - before
        finally:
            # redis-py >= 5.0.1 names it aclose(); 5.0.0 has only close()
            await (client.aclose() if hasattr(client, "aclose") else client.close())

    def run() -> None:
        loop = asyncio.SelectorEventLoop(selector)
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # re-raised in the caller's thread below
            result["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="ctxprop-fakeredis-probe")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["wakeups"] > _MAX_PROBE_WAKEUPS, result["sock"], result["conn"]


def probe() -> BlockingPatchReport:
    """Measure the installed fakeredis; report which defects it has (installs nothing)."""
    polls, _, _ = _probe_polls()
    return BlockingPatchReport(returns_early=_probe_returns_early(), polls=polls)


def _empty(reply: Any) -> bool:
    return isinstance(reply, (list, dict)) and not reply


def _wait_while_empty(original: Callable[..., Any], deferred: bool) -> Callable[..., Any]:
    """``_blocking`` that treats an empty stream reply as "no data yet" (the fakeredis#453 fix).

    ``deferred``: the asyncio socket, whose blocked replies arrive later.  Before
    fakeredis 2.40 (no ``shape`` argument) XREADGROUP post-processes what
    ``_blocking`` returns, which a deferred reply cannot survive, so that one
    read is left as it was there.
    """

    @functools.wraps(original)
    def _blocking(
        self: Any, timeout: Any, func: Callable[[bool], Any], *args: Any, **kwargs: Any
    ) -> Any:
        shaped = bool(args) or "shape" in kwargs
        name = getattr(getattr(func, "func", None), "__name__", "")
        if deferred and not shaped and name == "_xreadgroup":
            return original(self, timeout, func, *args, **kwargs)

        def attempt(first_pass: bool) -> Any:
            reply = func(first_pass)
            return None if _empty(reply) else reply

        return original(self, timeout, attempt, *args, **kwargs)

    return _blocking


def _notifying(original: Callable[..., Any]) -> Callable[..., Any]:
    """``put_response`` that also wakes a reader waiting in the patched ``can_read``."""

    @functools.wraps(original)
    def put_response(self: Any, msg: Any) -> None:
        original(self, msg)
        waiter = getattr(self, "_ctxprop_waiter", None)
        if waiter is not None:
            loop, event, ident = waiter
            if threading.get_ident() == ident:
                event.set()
            else:
                loop.call_soon_threadsafe(event.set)

    return put_response


async def _can_read(self: Any, timeout: float | None = 0) -> bool:
    """``can_read`` that waits on an event set by ``put_response`` (the fakeredis#506 fix)."""
    if not self.is_connected:
        await self.connect()
    sock = self._sock
    if timeout == 0:
        return sock is not None and not sock.responses.empty()
    if sock is None:
        return False
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    event = asyncio.Event()
    sock._ctxprop_waiter = (loop, event, threading.get_ident())
    try:
        while True:
            event.clear()
            if self._sock is None:
                return False
            if not sock.responses.empty():  # checked after clear(): no lost wake-up
                return True
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                return not sock.responses.empty()
    finally:
        sock._ctxprop_waiter = None


def _takes_shape(blocking: Any) -> bool:
    """Whether this ``_blocking`` shapes replies itself (fakeredis 2.40+): the deferred
    async reply of XREADGROUP can only be fixed there."""
    import inspect

    return blocking is not None and "shape" in inspect.signature(blocking).parameters


def _replace(cls: type, name: str, value: Any) -> None:
    if (cls, name) in _originals:  # already fixed: never wrap a wrapper
        return
    _originals[(cls, name)] = vars(cls)[name]
    setattr(cls, name, value)


def apply_blocking_patch(
    *, force: bool = False, decided: BlockingPatchReport | None = None
) -> BlockingPatchReport:
    """Probe fakeredis and install the fixes it needs; ``force`` installs all of them.

    ``decided``: a probe result from earlier in this process (the fixtures probe once
    per session), so the fixes go in without measuring again.  Idempotent: with fixes
    already installed, the probe sees a correct fake and nothing more is applied.
    """
    if decided is not None and not (decided.needed or force):
        return BlockingPatchReport(decided.returns_early, decided.polls)
    with _lock:
        if decided is None:
            polls, async_sock, async_conn = _probe_polls()
            returns_early = _probe_returns_early()
        else:
            _, async_sock, async_conn = _probe_polls(measure=False)
            polls, returns_early = decided.polls, decided.returns_early
        applied: list[str] = []
        left_alone: list[str] = []
        if returns_early or force:
            sync_cls, async_cls = _sync_classes(), _first_definer(async_sock, "_blocking")
            for cls in {sync_cls, async_cls}:
                fixed = _wait_while_empty(vars(cls)["_blocking"], deferred=cls is async_cls)
                _replace(cls, "_blocking", fixed)
            applied.append("fakeredis#453: blocking stream reads wait for data")
            if not _takes_shape(_originals.get((async_cls, "_blocking"))):
                left_alone.append("asyncio XREADGROUP (this fakeredis post-processes its reply)")
        if polls or force:
            _replace(async_sock, "put_response", _notifying(vars(async_sock)["put_response"]))
            _replace(async_conn, "can_read", _can_read)
            applied.append("fakeredis#506: asyncio reads wait on an event, not a poll")
        return BlockingPatchReport(returns_early, polls, tuple(applied), tuple(left_alone))


def remove_blocking_patch() -> None:
    """Restore everything :func:`apply_blocking_patch` replaced."""
    with _lock:
        for (cls, name), original in reversed(list(_originals.items())):
            setattr(cls, name, original)
        _originals.clear()


def is_patched() -> bool:
    """Whether any fix is currently installed."""
    return bool(_originals)


@contextmanager
def blocking_patch(
    *, force: bool = False, decided: BlockingPatchReport | None = None
) -> Iterator[BlockingPatchReport]:
    """Apply the patch for a block of code; restore what this call installed afterwards."""
    already = is_patched()
    report = apply_blocking_patch(force=force, decided=decided)
    try:
        yield report
    finally:
        if not already:
            remove_blocking_patch()
