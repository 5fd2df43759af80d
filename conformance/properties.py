"""The properties of SPEC v1 by stable ID: the catalogue behind test ids, messages and reports.

Texts follow ``shared/SPEC.md``; an ID is never reused for another meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEC_VERSION = "1"

SECTIONS: dict[str, str] = {
    "F": "forward propagation",
    "I": "isolation",
    "B": "back-propagation",
    "S": "serialization",
    "T": "tokens",
    "H": "harness",
}


@dataclass(frozen=True)
class Property:
    """One row of the specification."""

    id: str
    section: str
    title: str
    given: str
    when: str
    then: str
    origin: str = ""

    def describe(self) -> str:
        """The Given / When / Then text, one clause a line."""
        return f"Given: {self.given}\nWhen:  {self.when}\nThen:  {self.then}"


# fmt: off
_ROWS: tuple[Property, ...] = (
    Property("F1", "F", "caller value reaches the task",
             'caller sets V=a',
             'a task reads V',
             'a',
             'crewAI #4822, every seed'),
    Property("F2", "F", "capture at submit",
             'caller sets V=a, submits a task held at a gate, sets V=b',
             'the gate opens; the task reads V',
             'a (captured at submit, not at run or worker creation)',
             'FastMCP snapshot at submission'),
    Property("F3", "F", "unset and reset vars",
             'V unset in the caller (with and without default); or set then reset',
             'task reads V',
             'LookupError / the default; a reset var is unset in the task',
             'stdlib'),
    Property("F4", "F", "value types survive",
             '20 vars holding None, str, int, float, bytes, tuple, nested dict/list, a dataclass',
             'task reads them',
             'each equal, same type',
             'FastMCP snapshot'),
    Property("F5", "F", "plain helper reads the var",
             'caller sets V=a',
             'the task calls a plain sync helper, no injected parameters, that reads V',
             'a',
             'FastMCP `get_http_request()` / `get_access_token()` in background tasks'),
    Property("F6", "F", "nested submit",
             'task sets V=b and submits a nested task through the same runtime',
             'nested task reads V',
             'b',
             'wool #278 nested dispatch'),
    Property("F7", "F", "pooled worker creator value",
             'a pooled worker was created while the creator had V=c; a later caller has V=a',
             "the later caller's task reads V",
             'a, never c',
             'LightRAG #3386; pooled threads under `thread_inherit_context`'),
    Property("F8", "F", "async offload of a sync callable",
             'an async API that offloads a sync callable (`ainvoke`-style)',
             'the callable reads V',
             "the awaiting caller's value",
             'crewAI `run_in_executor` sites'),
    Property("F9", "F", "unregistered var does not travel",
             'which vars travel = registered; the caller sets an unregistered var U',
             'the task reads U',
             "U's default: over-propagation is a bug too",
             'hatchet #1711 (Sentry scope leak)'),
    Property("I1", "I", "task changes stay in the task",
             'model=copy; task sets V=t',
             'caller reads V after the task completes',
             "caller's own value",
             'stdlib'),
    Property("I2", "I", "concurrent tasks keep their own values",
             '≥ 50 concurrent tasks, each submitted with a distinct V, each yielding between reads; the task resolves a per-invocation object (a dependency)',
             'every task reads V and its object several times',
             'each always sees its own value and its own object',
             'FastMCP #3654, #3656'),
    Property("I3", "I", "no bleed between tasks on one worker",
             'reuses_workers; one worker; task 1 sets V=stale (e.g. an auth token)',
             'task 2 is submitted with V unset and reads V',
             'unset: no identity bleed from the previous task',
             'FastMCP (task_id, snapshot) guard; codecov worker #834'),
    Property("I4", "I", "raising task leaves a clean worker",
             'a task sets V then raises',
             'the caller awaits it; the next task on the same worker reads V',
             'caller gets the original exception type and message; next task sees a clean context',
             'stdlib'),
    Property("I5", "I", "cancelled task leaves a clean worker",
             'a task sets V and is cancelled mid-run',
             'the next task on the same worker reads V',
             'clean context',
             'stdlib'),
    Property("I6", "I", "worker ambient value",
             'the worker has an ambient value W=w set at worker start; the caller sets V=a',
             'task reads V and W',
             "V=a; W follows the runtime's documented rule, reported, not judged",
             'Docket worker lifespan'),
    Property("B1", "B", "task change flows back",
             'task sets V=t',
             'caller awaits it and reads V',
             't',
             'wool token PR, case 14'),
    Property("B2", "B", "forward-only var does not flow back",
             'V is declared forward-only',
             'task sets V=t; caller awaits',
             'caller still sees its own V',
             'wool `__proxy__` forward-only'),
    Property("B3", "B", "concurrent callers see their own changes",
             'two concurrent awaited tasks set V to different values',
             'each caller awaits its own',
             "each caller sees only its own task's change",
             'wool chain semantics'),
    Property("B4", "B", "unbound var flows back",
             'the task resets V to "no value"',
             'caller awaits',
             'V is unbound in the caller',
             'wool value-less wire entry'),
    Property("B5", "B", "changes of a raising task",
             'the task raises after setting V',
             'caller awaits and catches',
             'the documented rule (changes kept or dropped), reported',
             'wool error frames'),
    Property("S1", "S", "serialized values survive",
             'values of F4 plus datetime, Decimal, UUID, frozenset, and a closure where the runtime claims cloudpickle',
             'round trip to the task',
             'equal, same type',
             ''),
    Property("S2", "S", "unserializable value is not silently dropped",
             'caller sets V to an unserializable value (a lock, a socket)',
             'submit',
             'an error naming V at submit, or a documented drop with a warning naming V; never a silent drop',
             'wool: tokens silently dropped'),
    Property("S3", "S", "missing or bad snapshot",
             'a task whose stored snapshot is missing, expired or malformed',
             'the worker runs it',
             'runs with an empty context and a warning naming the task; the worker survives. Where the snapshot is declared required (e.g. encrypted), the task fails closed',
             'FastMCP rolling deploy, later encryption'),
    Property("S4", "S", "tampered snapshot rejected",
             'a tampered or foreign snapshot payload',
             'the worker loads it',
             'rejected with a clear error; no code from the payload runs',
             'security'),
    Property("S5", "S", "default-only var is not shipped",
             'V only at its default in the caller',
             'submit',
             'nothing is shipped for V; the task sees the default',
             'wool: default-only not propagated'),
    Property("S6", "S", "var the worker cannot import",
             'a var the worker cannot import (local, `__main__`)',
             'submit',
             'documented behaviour (error or warning naming the var), reported',
             ''),
    Property("T1", "T", "token var and old value",
             '`tok = V.set(x)`',
             'read `tok.var`, `tok.old_value`',
             'the var; `Token.MISSING` (or the documented sentinel) when V was unset, else the previous value',
             ''),
    Property("T2", "T", "reset restores",
             'a fresh token',
             '`V.reset(tok)`',
             'V back to its previous value, or unset (get without default raises LookupError)',
             ''),
    Property("T3", "T", "used token rejected",
             'a used token',
             'reset again',
             'RuntimeError `... has already been used once`',
             ''),
    Property("T4", "T", "token of another var rejected",
             'a token of another var',
             'reset',
             'ValueError `... was created by a different ContextVar`',
             ''),
    Property("T5", "T", "token of another context rejected",
             'a token minted in another Context',
             'reset',
             'ValueError `... was created in a different Context`',
             ''),
    Property("T6", "T", "non-token rejected",
             'a non-token x',
             'reset',
             'TypeError `expected an instance of Token, got {x!r}`',
             ''),
    Property("T7", "T", "check order",
             'a token failing several checks',
             'reset',
             'stdlib check order: type, used, var, context',
             ''),
    Property("T8", "T", "rejected reset changes nothing",
             'any rejected reset',
             'after it raises',
             "the var's value and the token's used state are unchanged",
             ''),
    Property("T9", "T", "token refuses pickle and copy",
             'a live token',
             'vanilla pickle, cloudpickle, copy, deepcopy',
             'TypeError naming the supported path',
             ''),
    Property("T10", "T", "token as a context manager",
             'Python ≥ 3.14',
             '`with V.set(x):` exits normally or by exception; explicit reset inside the block',
             'stdlib parity: restored, exception not suppressed; the explicit reset makes exit raise RuntimeError',
             ''),
    Property("TP", "T", "stdlib oracle",
             'random sequences of var creation, set, reset (fresh, used, foreign var, foreign context, non-token), copy_context, Context.run, get with/without default',
             'run on the implementation and on stdlib side by side (Hypothesis stateful)',
             'identical values, exception types and messages (addresses elided) at every step; a failure prints a minimal reproducer',
             ''),
    Property("T11", "T", "single use across the boundary",
             'caller mints a token, passes it to a task that resets it',
             'caller resets it afterwards',
             'RuntimeError (single use across processes)',
             'wool token PR, case 11'),
    Property("T12", "T", "sibling token travels",
             'a token minted in a sibling context, passed to a task that only inspects it',
             'there and back',
             'no error in transport; only an explicit reset raises',
             'case 12'),
    Property("T13", "T", "sibling token reset in the task",
             'that sibling token',
             'the task resets it',
             'ValueError, different Context',
             'case 13'),
    Property("T14", "T", "returned token resets in the caller",
             'model=awaited-call; the task sets V and returns the token',
             'caller resets it',
             'V back to its pre-call value',
             'case 14'),
    Property("T15", "T", "token inside an exception",
             'a token carried inside a raised exception',
             'caller resets it twice',
             'first succeeds, second RuntimeError',
             'wool'),
    Property("T16", "T", "used-token record stays bounded",
             'a long stream of set/reset across the boundary',
             '10,000 items',
             'the used-token record stays bounded',
             'wool ledger bound'),
    Property("H1", "H", "ready before yield",
             'a server started by `run_server_async`',
             'the fixture yields its URL',
             "the server's readiness signal has fired and its port accepts TCP connections; no fixed sleep anywhere",
             'FastMCP #2558'),
    Property("H2", "H", "port probe timeout",
             'a port that never opens',
             'the probe waits with timeout T',
             'a timeout error naming host:port and T, within T plus one poll interval',
             'FastMCP `_wait_for_port`'),
    Property("H3", "H", "server dies before ready",
             'a server that dies before it is ready',
             'the fixture waits',
             "the server's own exception is raised promptly, not a hang (upstream waits forever)",
             'gap in FastMCP'),
    Property("H4", "H", "bounded teardown",
             'a server task that ignores cancellation',
             'teardown',
             'returns within its bound; no task, thread or socket leaks',
             'FastMCP teardown'),
    Property("H5", "H", "port 0 reported",
             'port 0',
             'start',
             'the real bound port is reported through the readiness signal; no find-then-bind race',
             ''),
    Property("H6", "H", "fake blocking reads block",
             'fakeredis, blocking XREAD/XREADGROUP/BLPOP with a timeout on an empty key',
             'the call waits',
             'it blocks (CPU stays near idle) until data or timeout; the patch is version-gated and a no-op where fakeredis is already right',
             'fakeredis busy loop behind FastMCP #2558'),
    Property("H7", "H", "fake Redis isolation",
             'two tests (or two xdist workers) using the fake Redis',
             'run in any order or in parallel',
             'no state written by one is visible to the other',
             'Docket shared FakeServer'),
    Property("H8", "H", "Windows-safe loop",
             'Windows',
             'async tests run',
             'the selector event loop is used through a loop factory, not the deprecated policy API',
             'FastMCP #2558, Python 3.14'),
)
# fmt: on

PROPERTIES: dict[str, Property] = {p.id: p for p in _ROWS}


def get(property_id: str) -> Property:
    """The property with this ID; KeyError names the known ones."""
    try:
        return PROPERTIES[property_id]
    except KeyError:
        raise KeyError(
            f"unknown property {property_id!r}; known: {', '.join(PROPERTIES)}"
        ) from None


#: property IDs this suite version does not check yet (shown as such, never as absence)
NOT_CHECKED: frozenset[str] = frozenset()
#: how each section is checked: against a runtime adapter, a contextvars implementation,
#: or by pytest-ctxprop's own tests (the fixtures it ships)
CHECKED_AGAINST: dict[str, str] = {
    "F": "runtime",
    "I": "runtime",
    "B": "runtime",
    "S": "runtime",
    "T": "contextvars",
    "H": "pytest-ctxprop's own tests",
}


#: section T has two halves: local parity (against a contextvars implementation) and
#: tokens across the boundary (against a runtime)
TOKENS_ACROSS = ("T11", "T12", "T13", "T14", "T15", "T16")


def _entry(sid: str, title: str, against: str, ids: list[str]) -> dict[str, object]:
    return {
        "section": sid,
        "title": title,
        "checked_against": against,
        "checked": [pid for pid in ids if pid not in NOT_CHECKED],
        "not_checked": [pid for pid in ids if pid in NOT_CHECKED],
    }


def coverage() -> list[dict[str, object]]:
    """Every SPEC section, with the properties this suite version checks and the rest."""
    out = []
    for sid, title in SECTIONS.items():
        ids = [p.id for p in _ROWS if p.section == sid]
        if sid == "T":
            local = [pid for pid in ids if pid not in TOKENS_ACROSS]
            out.append(_entry(sid, title, CHECKED_AGAINST[sid], local))
            out.append(_entry(sid, "tokens across the boundary", "runtime", list(TOKENS_ACROSS)))
        else:
            out.append(_entry(sid, title, CHECKED_AGAINST[sid], ids))
    return out
