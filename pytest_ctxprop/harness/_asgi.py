"""Serve an ASGI app through uvicorn with a real readiness signal (used by run_server_async).

The socket is bound here, before uvicorn starts, so port 0 gives the real
port with no find-then-bind window (H5); readiness is reported from uvicorn's
own ``startup()`` once it listens and the app's lifespan startup finished.
uvicorn is imported on first use only.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_ctxprop.harness.server import ReadyHandle


async def serve_asgi(app: Any, ready: ReadyHandle) -> None:
    """Run ``app`` on uvicorn, bound to ``(ready.host, ready.port)``, until stopped."""
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "serving an ASGI app needs uvicorn: pip install 'pytest-ctxprop[server]'"
        ) from exc

    from pytest_ctxprop.harness.server import ServerStartError

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                ready(sock.getsockname())

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            # A test run owns SIGINT/SIGTERM; uvicorn must not take them over.
            yield

    family = socket.AF_INET6 if ":" in ready.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ready.host, ready.port))
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="auto",
            ws="none",
            http="h11",
        )
        server = _Server(config)
        ready.on_stop(lambda: setattr(server, "should_exit", True))
        try:
            await server.serve(sockets=[sock])
        except SystemExit:
            # uvicorn exits the process when lifespan startup fails; inside a test
            # run that must be an ordinary exception.
            raise ServerStartError(
                "uvicorn could not start the app (lifespan startup failed)"
            ) from None
    finally:
        sock.close()
