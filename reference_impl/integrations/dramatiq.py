"""dramatiq: carry registered contextvars from ``send`` to the actor, one fresh Context per message.

dramatiq runs every actor on a worker thread in that thread's own context, so
a caller's values never arrive and one message's values stay for the next on
the same thread.  :func:`context_middleware` snapshots the registered vars into
the message's options at enqueue (in the sender's context: capture at send)
and runs each actor call in a new Context restored from its own message's
snapshot.  Built on :mod:`ctxprop_reference.snapshot`; docs/integrations/dramatiq.md.
"""

from __future__ import annotations

import base64
import binascii
import functools
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ctxprop_reference.snapshot import SnapshotError, SnapshotSerializer

__all__ = ["OPTION", "context_middleware", "get_result"]

#: the message option holding the snapshot record (base64 of the signed record)
OPTION = "ctxprop_snapshot"


def context_middleware(serializer: SnapshotSerializer, *, required: bool = False) -> Any:
    """A dramatiq ``Middleware``: add it to the broker before declaring actors, on both sides.

    ``serializer`` must be built alike by senders and workers (same registry
    specs, codec and signing key).  ``required=True`` fails a message that has
    no valid snapshot instead of running it in an empty Context (S3).
    """
    return _middleware_class()(serializer, required)


def get_result(
    message: Any, *, backend: Any, timeout: float, errors: Iterable[type[Exception]] = ()
) -> Any:
    """``message.get_result(block=True)`` with ``TimeoutError`` and allow-listed exception types.

    dramatiq's Results backend stores a failure as its type *name* and message and
    raises ``ResultFailure``; a type named in ``errors`` is raised again as itself
    (only those: nothing is imported because the backend named it).
    """
    from dramatiq.results import ResultFailure, ResultTimeout

    known = {cls.__name__: cls for cls in errors}
    try:
        return message.get_result(backend=backend, block=True, timeout=max(1, int(timeout * 1000)))
    except ResultTimeout:
        raise TimeoutError(f"no result for message {message.message_id} after {timeout}s") from None
    except ResultFailure as exc:
        cls = known.get(exc.orig_exc_type)
        if cls is None:
            raise
        raise cls(exc.orig_exc_msg) from exc


def _encode(record: bytes) -> str:
    return base64.b64encode(record).decode("ascii")


def _decode(option: Any) -> bytes | None:
    """The record of a message option; a malformed option is passed on as bytes for S4 to reject."""
    if option is None:
        return None
    if not isinstance(option, str):
        return b"malformed option"
    try:
        return base64.b64decode(option.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return b"malformed option"


@functools.cache
def _middleware_class() -> type[Any]:
    """Built on first use, so importing this module does not import dramatiq."""
    import dramatiq
    from dramatiq.middleware import MiddlewareError

    class SnapshotRefusedError(MiddlewareError):
        """A value could not be snapshotted at send (S2): raised to the sender, naming the var."""

    class ContextMiddleware(dramatiq.Middleware):  # type: ignore[misc]
        """Snapshot at enqueue; run each actor call in the Context of its own message."""

        def __init__(self, serializer: SnapshotSerializer, required: bool) -> None:
            self._serializer = serializer
            self._required = required
            self._current = threading.local()

        def __repr__(self) -> str:  # the serializer's repr holds var ids only
            return f"<ContextMiddleware {self._serializer!r} required={self._required}>"

        def before_enqueue(self, broker: Any, message: Any, delay: int) -> None:
            if OPTION in message.options:  # a retry keeps the snapshot taken at the first send
                return
            try:
                record = self._serializer.dumps(message.message_id)
            except SnapshotError as exc:  # dramatiq logs and swallows all but MiddlewareError
                raise SnapshotRefusedError(str(exc)) from exc
            message.options[OPTION] = _encode(record)

        def after_declare_actor(self, broker: Any, actor: Any) -> None:
            actor.fn = _in_message_context(actor.fn, self)

        def before_process_message(self, broker: Any, message: Any) -> None:
            self._current.message = message

        def after_process_message(
            self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
        ) -> None:
            self._current.message = None

        def after_skip_message(self, broker: Any, message: Any) -> None:
            self._current.message = None

        def run(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
            message = getattr(self._current, "message", None)
            if message is None:  # a direct, synchronous actor call: the caller's own context
                return fn(*args, **kwargs)
            self._current.message = None  # a nested direct call runs where it is called
            record = _decode(message.options.get(OPTION))
            snapshot = self._serializer.loads(message.message_id, record, required=self._required)
            return snapshot.run(fn, *args, **kwargs)

    return ContextMiddleware


def _in_message_context(fn: Callable[..., Any], middleware: Any) -> Callable[..., Any]:
    @functools.wraps(fn)
    def actor_fn(*args: Any, **kwargs: Any) -> Any:
        return middleware.run(fn, args, kwargs)

    return actor_fn
