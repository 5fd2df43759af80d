"""Broken runtimes for SPEC section T across the boundary (T11-T16), one bug each.

Each is the reference process pool (``ctxprop_reference.process_pool``, forkserver)
with one piece of its token dispatch swapped for a realistic bug.  The worker
functions are module level: the pool pickles them by reference.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, ClassVar

from ctxprop_reference import token_dispatch
from ctxprop_reference.adapters import AwaitedCallAdapter, ProcessPoolForkserverAdapter
from ctxprop_reference.aio import AwaitedCall
from ctxprop_reference.process_pool import ContextProcessPool, _Outcome, _run_in_snapshot, _settle


def _forgets_used(task_id: str, record: bytes, fn: Any, args: tuple[Any, ...]) -> _Outcome:
    outcome = _run_in_snapshot(task_id, record, fn, args)
    return _Outcome(outcome.value, outcome.error, ())  # the bug: the spent tokens stay behind


class _ForgetsUsedPool(ContextProcessPool):
    worker = staticmethod(_forgets_used)


class ForgetsUsedTokens(ProcessPoolForkserverAdapter):
    """T11: the result does not carry back which tokens the task spent.

    "The worker resets it, that is its business": the caller's token stays
    unused, so the caller resets it a second time, on another machine's behalf.
    """

    pool_class: ClassVar[type[ContextProcessPool]] = _ForgetsUsedPool


def _drops_unbound_tokens(task_id: str, record: bytes, fn: Any, args: tuple[Any, ...]) -> _Outcome:
    outcome = _run_in_snapshot(task_id, record, fn, args)
    value = outcome.value
    token = value.get("token") if isinstance(value, dict) else None
    if isinstance(token, token_dispatch.TokenRef) and not token.bound:
        value = {**value, "token": None}  # the bug: "not ours, not sent back"
    return _Outcome(value, outcome.error, outcome.used)


class _DropsUnboundPool(ContextProcessPool):
    worker = staticmethod(_drops_unbound_tokens)


class DropsForeignTokensOnReturn(ProcessPoolForkserverAdapter):
    """T12: a token the caller did not mint in its own Context comes back as None."""

    pool_class: ClassVar[type[ContextProcessPool]] = _DropsUnboundPool


class _BindsEverythingPool(ContextProcessPool):
    def encode_args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        def bound(value: Any) -> Any:
            if isinstance(value, token_dispatch.TokenRef):
                return token_dispatch.TokenRef(value.wire, True)  # the bug: no minted_here
            if type(value) in (tuple, list):
                return type(value)(bound(v) for v in value)
            return value

        return bound(token_dispatch.encode(args))  # type: ignore[no-any-return]


class BindsEveryToken(ProcessPoolForkserverAdapter):
    """T13: every token is made resettable in the task, a sibling Context's too.

    "Tokens are portable": the check of where a token was minted is skipped.
    """

    pool_class: ClassVar[type[ContextProcessPool]] = _BindsEverythingPool


def _plain_exceptions(task_id: str, record: bytes, fn: Any, args: tuple[Any, ...]) -> _Outcome:
    outcome = _run_in_snapshot(task_id, record, fn, args)
    error = outcome.error
    if error is not None and len(error.args) > 1:
        error = type(error)(str(error.args[0]))  # the bug: only the message survives
    return _Outcome(outcome.value, error, outcome.used)


class _PlainExceptionsPool(ContextProcessPool):
    worker = staticmethod(_plain_exceptions)


class ExceptionsKeepOnlyTheMessage(ProcessPoolForkserverAdapter):
    """T15: an exception is rebuilt from its type and first argument; a token in it is lost."""

    pool_class: ClassVar[type[ContextProcessPool]] = _PlainExceptionsPool


#: every token the caller was told a task spent, kept for good
_SPENT: list[dict[str, Any]] = []


class _LedgerPool(ContextProcessPool):
    def settle(
        self, inner: concurrent.futures.Future[_Outcome], outer: concurrent.futures.Future[Any]
    ) -> None:
        if not inner.cancelled() and inner.exception() is None:
            _SPENT.extend(inner.result().used)  # the bug: a ledger that never forgets
        _settle(inner, outer)


class UnboundedUsedTokenLedger(ProcessPoolForkserverAdapter):
    """T16: single use is enforced by remembering every spent token id, forever."""

    pool_class: ClassVar[type[ContextProcessPool]] = _LedgerPool

    def token_record_size(self) -> int:
        return len(_SPENT)


class _AppliesValuesOnly(AwaitedCall):
    def apply_change(self, var: Any, new: Any, token: Any) -> None:
        var.set(new)  # the bug: the returned token still belongs to the task's Context


class ReturnedTokensStayInTheTask(AwaitedCallAdapter):
    """T14: an awaited call brings the task's values back, but not its tokens' Context.

    The caller sees the task's value and holds the task's token, and the token
    refuses to reset: it was minted in the task's Context.
    """

    def __init__(self) -> None:
        self.calls = _AppliesValuesOnly()
