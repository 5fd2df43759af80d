"""Deliberately broken contextvars implementations, for the proof tests.

All share one small implementation over the stdlib (like the reference) whose
only differences are the flaw switches, so a flawed variant differs from the
faithful one in exactly the places its flaws name.  Each flaw is a bug real
runtimes have shipped or nearly shipped; ``CAUGHT_BY`` names the T property
that must catch it (TP must catch every one of them too).  ``make`` takes one
flaw or several: ``TWO_DEFECTS`` holds two independent ones, and TP must report
both (one must not mask the other).
"""

from __future__ import annotations

import contextvars
import types
from typing import Any, ClassVar

FAITHFUL = "faithful"
WRONG_USED_MESSAGE = "wrong-used-message"
REJECTED_RESET_MARKS_USED = "rejected-reset-marks-used"
VAR_CHECKED_BEFORE_USED = "var-checked-before-used"
WRONG_OLD_VALUE = "wrong-old-value"
PICKLABLE_TOKEN = "picklable-token"
PICKLE_REFUSED_WITH_VALUE_ERROR = "pickle-refused-with-value-error"

CAUGHT_BY: dict[str, str] = {
    WRONG_USED_MESSAGE: "T3",
    REJECTED_RESET_MARKS_USED: "T8",
    VAR_CHECKED_BEFORE_USED: "T7",
    WRONG_OLD_VALUE: "T1",
    PICKLABLE_TOKEN: "T9",
    PICKLE_REFUSED_WITH_VALUE_ERROR: "T9",
}

#: Two independent defects in one implementation: a copy refused with the wrong
#: exception type (found by TP in a few steps) and a reset message worded
#: differently (found only after a set and two resets).
TWO_DEFECTS: tuple[str, ...] = (PICKLE_REFUSED_WITH_VALUE_ERROR, WRONG_USED_MESSAGE)

_NO_DEFAULT = object()


def _detached_token(shown: str, used: bool) -> dict[str, object]:
    """What unpickling the picklable token gives: a lookalike with no power."""
    return {"token": shown, "used": used}


class _Token:
    MISSING: ClassVar[object] = contextvars.Token.MISSING
    flaws: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, var: _ContextVar, stdlib_token: contextvars.Token[Any], value: object):
        self._var = var
        self._stdlib_token = stdlib_token
        self._value = value
        self._used = False

    @property
    def var(self) -> _ContextVar:
        return self._var

    @property
    def old_value(self) -> object:
        if WRONG_OLD_VALUE in self.flaws:
            return self._value  # the value this token set, not the one before
        return self._stdlib_token.old_value

    def __repr__(self) -> str:
        used = " used" if self._used else ""
        return f"<Token{used} var={self._var!r} at 0x{id(self):x}>"

    def __reduce_ex__(self, protocol: Any) -> Any:
        if PICKLABLE_TOKEN in self.flaws:
            return (_detached_token, (repr(self), self._used))
        if PICKLE_REFUSED_WITH_VALUE_ERROR in self.flaws:
            raise ValueError("tokens cannot be pickled")
        raise TypeError("cannot pickle 'Token' object")


class _ContextVar:
    token_class: ClassVar[type[_Token]] = _Token

    def __init__(self, name: str, *, default: object = _NO_DEFAULT) -> None:
        self.name = name
        self._default = default
        self._stdlib_var: contextvars.ContextVar[Any] = (
            contextvars.ContextVar(name)
            if default is _NO_DEFAULT
            else contextvars.ContextVar(name, default=default)
        )

    def get(self, *default: object) -> object:
        try:
            return self._stdlib_var.get(*default)
        except LookupError:
            raise LookupError(self) from None

    def set(self, value: object) -> _Token:
        return self.token_class(self, self._stdlib_var.set(value), value)

    def reset(self, token: _Token) -> None:
        flaws = self.token_class.flaws
        if type(token) is not self.token_class:
            raise TypeError(f"expected an instance of Token, got {token!r}")
        if VAR_CHECKED_BEFORE_USED in flaws and token._var is not self:
            raise ValueError(f"{token!r} was created by a different ContextVar")
        if token._used:
            if WRONG_USED_MESSAGE in flaws:
                raise RuntimeError(f"{token!r} was already used")
            raise RuntimeError(f"{token!r} has already been used once")
        if token._var is not self:
            self._rejected(token)
            raise ValueError(f"{token!r} was created by a different ContextVar")
        try:
            self._stdlib_var.reset(token._stdlib_token)
        except ValueError:
            self._rejected(token)
            raise ValueError(f"{token!r} was created in a different Context") from None
        token._used = True

    def _rejected(self, token: _Token) -> None:
        if REJECTED_RESET_MARKS_USED in self.token_class.flaws:
            token._used = True

    def __repr__(self) -> str:
        default = "" if self._default is _NO_DEFAULT else f" default={self._default!r}"
        return f"<ContextVar name={self.name!r}{default} at 0x{id(self):x}>"


def make(*flaws: str) -> types.SimpleNamespace:
    """A module-like object with ContextVar, Token, Context and copy_context, with ``flaws``.

    ``make(FAITHFUL)`` (or ``make()``) has none.
    """
    unknown = set(flaws) - {FAITHFUL, *CAUGHT_BY}
    if unknown:
        raise ValueError(f"unknown flaws: {sorted(unknown)}")
    switched = frozenset(flaws) - {FAITHFUL}
    token = type("Token", (_Token,), {"flaws": switched, "__module__": __name__})
    var = type("ContextVar", (_ContextVar,), {"token_class": token, "__module__": __name__})
    return types.SimpleNamespace(
        __name__=f"broken_contextvars[{'+'.join(flaws) or FAITHFUL}]",
        ContextVar=var,
        Token=token,
        Context=contextvars.Context,
        copy_context=contextvars.copy_context,
    )
