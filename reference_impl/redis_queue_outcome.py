"""Task outcomes on the wire: a JSON value, or an exception as type + message.

A caller rebuilds an exception's own type only when its module is in an
allowlist (configuration, never wire data); anything else arrives as
:class:`RemoteTaskError` naming the remote type.  Nothing is imported because
the wire named it, and nothing is unpickled.
"""

from __future__ import annotations

import builtins
import importlib
import json
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "DEFAULT_ERROR_MODULES",
    "RemoteTaskError",
    "TaskCancelledError",
    "TaskLostError",
    "encode_error",
    "encode_value",
    "rebuild_error",
]

#: modules whose exception types a caller rebuilds (anything else: RemoteTaskError)
DEFAULT_ERROR_MODULES: Final = (
    "builtins",
    "ctxprop_conformance.probes",
    "ctxprop_reference.snapshot_errors",
    "ctxprop_reference.redis_queue",
    "ctxprop_reference.redis_queue_outcome",
)


class RemoteTaskError(Exception):
    """A task raised an exception whose type the caller does not rebuild (not allowlisted)."""

    def __init__(self, message: str, *, remote_type: str = "") -> None:
        super().__init__(message)
        self.remote_type = remote_type


class TaskLostError(RemoteTaskError):
    """A task could not be run: its worker died on every delivery, or its record expired."""


class TaskCancelledError(RemoteTaskError):
    """The task was cancelled (``RedisTaskQueue.cancel``): before it ran, or while it ran."""


def _qualified_name(tp: type) -> str:
    return f"{tp.__module__}:{tp.__qualname__}"


def encode_value(value: Any) -> bytes:
    return json.dumps({"ok": value}, separators=(",", ":"), allow_nan=False).encode()


def encode_error(exc: BaseException, traceback_text: str = "") -> bytes:
    """An exception as JSON: its type by ``module:qualname``, its message, the remote traceback."""
    # the one str argument when there is one: str(KeyError("k")) would add quotes on each trip
    args = exc.args
    message = args[0] if len(args) == 1 and isinstance(args[0], str) else str(exc)
    error = {"type": _qualified_name(type(exc)), "message": message, "traceback": traceback_text}
    return json.dumps({"error": error}, separators=(",", ":")).encode()


def rebuild_error(error: Mapping[str, Any], allowed: tuple[str, ...]) -> Exception:
    """The exception a task raised: its own type if its module is allowlisted, else RemoteTaskError.

    Nothing is imported because the wire named it: only modules in ``allowed``
    (configuration) are looked in, and only Exception subclasses are rebuilt.
    """
    type_name = str(error.get("type", ""))
    message = str(error.get("message", ""))
    module_name, _, qualname = type_name.partition(":")
    cls: Any = None
    if module_name in allowed:
        module = builtins if module_name == "builtins" else importlib.import_module(module_name)
        cls = module
        for part in qualname.split("."):
            cls = getattr(cls, part, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            exc: Exception = cls(message)
        except Exception:  # a constructor with other required arguments
            exc = cls.__new__(cls)
            Exception.__init__(exc, message)
    else:
        exc = RemoteTaskError(f"{type_name}: {message}", remote_type=type_name)
    remote = error.get("traceback")
    if remote:
        note = f"remote traceback (worker process):\n{remote}"
        if hasattr(exc, "add_note"):
            exc.add_note(note)
        else:  # 3.10: PEP 678's attribute, which pytest and the exceptiongroup backport show
            exc.__notes__ = [*getattr(exc, "__notes__", []), note]
    return exc
