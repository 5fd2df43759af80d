"""Serve an ASGI app through uvicorn with a real readiness signal (used by run_server_async).

The socket is bound here, before uvicorn starts, so port 0 gives the real
port with no find-then-bind window (H5); readiness is reported from uvicorn's
own ``startup()`` once it listens and the app's lifespan startup finished.
A lifespan startup that fails re-raises the app's *own* exception (H3), not
uvicorn's exit.  uvicorn is imported on first use only.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_ctxprop.harness.server import ReadyHandle

Message = dict[str, Any]


class LifespanWatch:
    """Wraps the app's lifespan to see how its startup went.

    uvicorn runs with ``lifespan="on"`` so a startup failure stops it; an app
    that raises before it even reads the startup event does not speak lifespan
    at all, and is treated as uvicorn's ``"auto"`` treats it: served without one.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.error: BaseException | None = None  # what the app raised during startup
        self.failed_message: str | None = None  # the app's lifespan.startup.failed message

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        phase = "before"  # before / starting / started

        async def watched_receive() -> Message:
            nonlocal phase
            message = await receive()
            if message["type"] == "lifespan.startup" and phase == "before":
                phase = "starting"
            return message

        async def watched_send(message: Message) -> None:
            nonlocal phase
            if message["type"] == "lifespan.startup.complete":
                phase = "started"
            elif message["type"] == "lifespan.startup.failed":
                self.failed_message = str(message.get("message") or "")
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
        except Exception as exc:
            if phase == "before":
                return  # no lifespan support: serve without one
            if phase == "starting":
                self.error = exc
            raise

    def failed(self) -> bool:
        """Whether the app's lifespan startup raised or reported failure."""
        return self.error is not None or self.failed_message is not None

    def startup_error(self) -> BaseException:
        """The exception to raise for a failed startup: the app's own when it raised one."""
        from pytest_ctxprop.harness.server import ServerStartError

        if self.error is not None:
            return self.error
        detail = f": {self.failed_message}" if self.failed_message else ""
        return ServerStartError(f"the ASGI app's lifespan startup failed{detail}")


async def serve_asgi(app: Any, ready: ReadyHandle) -> None:
    """Run ``app`` on uvicorn, bound to ``(ready.host, ready.port)``, until stopped."""
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "serving an ASGI app needs uvicorn: pip install 'pytest-ctxprop[server]'"
        ) from exc

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                ready(sock.getsockname())

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            # A test run owns SIGINT/SIGTERM; uvicorn must not take them over.
            yield

    watch = LifespanWatch(app)
    family = socket.AF_INET6 if ":" in ready.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ready.host, ready.port))
        config = uvicorn.Config(
            watch, log_config=None, access_log=False, lifespan="on", ws="none", http="h11"
        )
        server = _Server(config)
        ready.on_stop(lambda: setattr(server, "should_exit", True))
        try:
            await server.serve(sockets=[sock])
        except SystemExit:
            # uvicorn exits the process when lifespan startup fails; inside a test
            # run that is the app's own exception (H3)
            raise watch.startup_error() from None
        if not server.started and watch.failed():
            raise watch.startup_error()  # uvicorn 0.30 returns here instead of exiting
    finally:
        sock.close()
