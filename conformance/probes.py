"""Probe vars and the functions tasks run: everything a worker must import.

The probe vars live in :mod:`ctxprop_conformance.probe_vars` (re-exported
here), each a module-level attribute named after where it lives, so a runtime
that ships vars by reference resolves each one with ``module:attribute``.

Every task body exists twice, as a plain function and as a coroutine function;
a :class:`Probe` pairs them so a scenario names one probe for both kinds.  Task
bodies take only plain arguments (str, int, lists, str-keyed dicts: JSON-safe;
a gate is an address string, a nested runner a :data:`RunnerRef` dict) and
return :func:`~ctxprop_conformance.observations.describe`-d data, so a broker
that speaks JSON carries them both ways.  A broker adapter registers one task,
:func:`run_probe` (or :func:`run_probe_async`), and submits
``run_probe(task_name(fn), *args)``: see docs/adapters.md.
"""

from __future__ import annotations

import contextvars
import importlib
import pickle
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from ctxprop_conformance import gates
from ctxprop_conformance.observations import UNSET, describe

# the vars, re-exported: tasks and scenarios name them probes.V, probes.F4_VARS, ...
from ctxprop_conformance.probe_vars import *  # noqa: F403
from ctxprop_conformance.probe_vars import DEP, VARS, V, W

__all__ = [
    "UNSET",
    "Probe",
    "ProbeError",
    "RunnerRef",
    "run_probe",
    "run_probe_async",
    "task_name",
]


class ProbeError(Exception):
    """The exception probe tasks raise (I4, B5); its type and message must survive."""


def observe(name: str) -> Any:
    """What ``var.get()`` gives here (a default counts), or :data:`UNSET` on LookupError."""
    try:
        return VARS[name].get()
    except LookupError:
        return UNSET


def observe_all(names: Iterable[str]) -> dict[str, Any]:
    return {name: observe(name) for name in names}


def _apply(values: dict[str, Any]) -> None:
    for name, value in values.items():
        VARS[name].set(value)


def current_request() -> Any:
    """A plain sync helper with no injected parameters (F5), like get_http_request()."""
    return observe("V")


def make_closure(greeting: str) -> Any:
    """S1: a closure (only cloudpickle carries it), returning what it closed over."""

    def closure() -> str:
        return f"{greeting} from a closure"

    return closure


def local_var() -> contextvars.ContextVar[Any]:
    """S6: a var that is no module attribute, so no worker can import it."""
    return contextvars.ContextVar("S6_LOCAL_VAR (local to ctxprop_conformance.probes.local_var)")


class _RunsCode:
    """S4: unpickling this connects to the suite's signal: proof that payload code ran."""

    def __init__(self, signal: str) -> None:
        self.signal = signal

    def __reduce__(self) -> tuple[Any, ...]:
        return (gates.fire_sync, (self.signal,))


def foreign_payload(signal: str) -> bytes:
    """S4: bytes that run code (they fire ``signal``) if a worker ever unpickles them."""
    return pickle.dumps(_RunsCode(signal))


def set_ambient() -> None:
    """Worker initializer for I6: an ambient value set when the worker starts."""
    W.set("w")


# -- nested runners (F6) --------------------------------------------------------------

#: how a task reaches "the same runtime" again: a factory by name and plain arguments;
#: ``{"factory": "pkg.mod:make_runner", "args": [...]}``.  The factory, called where the
#: task runs, returns an object with ``call(fn, *args)`` (a coroutine for async tasks).
RunnerRef = dict[str, Any]


def resolve_runner(ref: RunnerRef) -> Any:
    module, _, qualname = str(ref["factory"]).partition(":")
    factory: Any = importlib.import_module(module)
    for part in qualname.split("."):
        factory = getattr(factory, part)
    return factory(*ref.get("args", ()))


# -- task bodies -----------------------------------------------------------------------


def task_read(names: list[str]) -> Any:
    return describe(observe_all(names))


async def task_read_async(names: list[str]) -> Any:
    return describe(observe_all(names))


def task_set_then_read(values: dict[str, Any], names: list[str]) -> Any:
    _apply(values)
    return describe(observe_all(names))


async def task_set_then_read_async(values: dict[str, Any], names: list[str]) -> Any:
    _apply(values)
    return describe(observe_all(names))


def task_hold_then_read(gate: str, names: list[str]) -> Any:
    gates.wait_sync(gate)
    return describe(observe_all(names))


async def task_hold_then_read_async(gate: str, names: list[str]) -> Any:
    await gates.wait_async(gate)
    return describe(observe_all(names))


def task_helper_read() -> Any:
    return describe(current_request())


async def task_helper_read_async() -> Any:
    return describe(current_request())


def task_dependency_reads(rounds: int) -> Any:
    """Per read: (V, owner of the resolved dependency, same object as the first read)."""
    first = DEP.get(None)
    out = []
    for _ in range(rounds):
        dep = DEP.get(None)
        out.append((V.get(UNSET), None if dep is None else dep.owner, dep is first))
        time.sleep(0)  # let other tasks run between reads
    return describe(out)


async def task_dependency_reads_async(rounds: int) -> Any:
    import anyio

    first = DEP.get(None)
    out = []
    for _ in range(rounds):
        dep = DEP.get(None)
        out.append((V.get(UNSET), None if dep is None else dep.owner, dep is first))
        await anyio.sleep(0)  # let other tasks run between reads
    return describe(out)


def task_set_then_raise(values: dict[str, Any], message: str) -> None:
    _apply(values)
    raise ProbeError(message)


async def task_set_then_raise_async(values: dict[str, Any], message: str) -> None:
    _apply(values)
    raise ProbeError(message)


def task_set_then_block(values: dict[str, Any], started: str, gate: str) -> None:
    _apply(values)
    gates.fire_sync(started)
    gates.wait_sync(gate)


async def task_set_then_block_async(values: dict[str, Any], started: str, gate: str) -> None:
    _apply(values)
    await gates.fire_async(started)
    await gates.wait_async(gate)


def task_set_then_nested_read(runner: RunnerRef, values: dict[str, Any], names: list[str]) -> Any:
    _apply(values)
    return resolve_runner(runner).call(task_read, names)


async def task_set_then_nested_read_async(
    runner: RunnerRef, values: dict[str, Any], names: list[str]
) -> Any:
    _apply(values)
    return await resolve_runner(runner).call(task_read_async, names)


def task_call_closure(name: str) -> Any:
    return describe(VARS[name].get()())


async def task_call_closure_async(name: str) -> Any:
    return describe(VARS[name].get()())


def task_context_has(names: list[str]) -> Any:
    """S5: which vars are *in* the task's context (a default-only var must not be)."""
    context = contextvars.copy_context()
    return describe({name: VARS[name] in context for name in names})


async def task_context_has_async(names: list[str]) -> Any:
    context = contextvars.copy_context()
    return describe({name: VARS[name] in context for name in names})


class TokenCarrier(ProbeError):
    """T15: an exception with a token among its args."""


def _reset(token: Any) -> str:
    try:
        token.var.reset(token)
    except Exception as exc:  # the outcome is what the check looks at
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def task_reset_tokens(tokens: list[Any]) -> Any:
    """T11, T13, T16: reset each token here; the outcome of each (tokens travel as args)."""
    return describe([_reset(t) for t in tokens])


async def task_reset_tokens_async(tokens: list[Any]) -> Any:
    return describe([_reset(t) for t in tokens])


def task_return_token(token: Any) -> Any:
    """T12: look at a token and send it back: raw, so the runtime carries the token."""
    return {"old_value": describe(token.old_value), "token": token}


async def task_return_token_async(token: Any) -> Any:
    return {"old_value": describe(token.old_value), "token": token}


def task_set_and_return_token(value: str) -> Any:
    """T14: set TV here and hand the token back (awaited-call: the change flows back too)."""
    from ctxprop_conformance.token_probe_vars import TV

    return {"token": TV.set(value)}


async def task_set_and_return_token_async(value: str) -> Any:
    from ctxprop_conformance.token_probe_vars import TV

    return {"token": TV.set(value)}


def task_raise_with_token(token: Any) -> None:
    """T15: raise an exception that carries the caller's token back."""
    raise TokenCarrier("the task failed, carrying a token", token)


async def task_raise_with_token_async(token: Any) -> None:
    raise TokenCarrier("the task failed, carrying a token", token)


def task_set_then_unset(name: str, value: Any) -> Any:
    token = VARS[name].set(value)
    VARS[name].reset(token)
    return describe(observe_all((name,)))


async def task_set_then_unset_async(name: str, value: Any) -> Any:
    import anyio

    token = VARS[name].set(value)
    # a runtime that ships changes at await points sees the value here ...
    await anyio.lowlevel.checkpoint()
    # ... and must then ship "no value" too (B4)
    VARS[name].reset(token)
    return describe(observe_all((name,)))


@dataclass(frozen=True)
class Probe:
    """One task body in both forms, and the name it goes by in reports."""

    name: str
    sync: Callable[..., Any]
    async_: Callable[..., Coroutine[Any, Any, Any]]

    def for_kind(self, kind: str) -> Callable[..., Any]:
        return self.async_ if kind == "async" else self.sync


READ = Probe("read", task_read, task_read_async)
SET_THEN_READ = Probe("set_then_read", task_set_then_read, task_set_then_read_async)
HOLD_THEN_READ = Probe("hold_then_read", task_hold_then_read, task_hold_then_read_async)
HELPER_READ = Probe("helper_read", task_helper_read, task_helper_read_async)
DEPENDENCY_READS = Probe("dependency_reads", task_dependency_reads, task_dependency_reads_async)
SET_THEN_RAISE = Probe("set_then_raise", task_set_then_raise, task_set_then_raise_async)
SET_THEN_BLOCK = Probe("set_then_block", task_set_then_block, task_set_then_block_async)
SET_THEN_NESTED_READ = Probe(
    "set_then_nested_read", task_set_then_nested_read, task_set_then_nested_read_async
)
SET_THEN_UNSET = Probe("set_then_unset", task_set_then_unset, task_set_then_unset_async)
CALL_CLOSURE = Probe("call_closure", task_call_closure, task_call_closure_async)
CONTEXT_HAS = Probe("context_has", task_context_has, task_context_has_async)
RESET_TOKENS = Probe("reset_tokens", task_reset_tokens, task_reset_tokens_async)
RETURN_TOKEN = Probe("return_token", task_return_token, task_return_token_async)
SET_AND_RETURN_TOKEN = Probe(
    "set_and_return_token", task_set_and_return_token, task_set_and_return_token_async
)
RAISE_WITH_TOKEN = Probe("raise_with_token", task_raise_with_token, task_raise_with_token_async)

PROBES: tuple[Probe, ...] = (
    READ,
    SET_THEN_READ,
    HOLD_THEN_READ,
    HELPER_READ,
    DEPENDENCY_READS,
    SET_THEN_RAISE,
    SET_THEN_BLOCK,
    SET_THEN_NESTED_READ,
    SET_THEN_UNSET,
    CALL_CLOSURE,
    CONTEXT_HAS,
    RESET_TOKENS,
    RETURN_TOKEN,
    SET_AND_RETURN_TOKEN,
    RAISE_WITH_TOKEN,
)


def task_name(fn: Callable[..., Any]) -> str:
    """The name a task body goes by on the wire: ``module:qualname``."""
    return f"{fn.__module__}:{fn.__qualname__}"


_TASKS: dict[str, Callable[..., Any]] = {
    task_name(fn): fn for probe in PROBES for fn in (probe.sync, probe.async_)
}


def _task(target: str) -> Callable[..., Any]:
    try:
        return _TASKS[target]
    except KeyError:
        raise LookupError(
            f"{target!r} is not a ctxprop probe task (known: {', '.join(sorted(_TASKS))})"
        ) from None


def run_probe(target: str, *args: Any) -> Any:
    """The one entry point a broker worker needs: run the probe task named ``target``.

    Only the suite's own task bodies can be named: a worker never imports an
    arbitrary name it received.
    """
    return _task(target)(*args)


async def run_probe_async(target: str, *args: Any) -> Any:
    """:func:`run_probe` for runtimes whose tasks are coroutines."""
    return await _task(target)(*args)
