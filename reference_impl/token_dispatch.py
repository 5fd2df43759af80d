"""Reference Tokens across a process boundary: the dispatch half of the wire hook (T11-T16).

A task's arguments, its result and its exception may hold
:class:`ctxprop_reference.vars.Token` objects, which refuse pickle (T9).
:func:`encode` replaces each with a :class:`TokenRef` carrying its wire data;
:func:`decode` turns refs back into tokens with ``Token.from_wire`` (in the
minting process: the very token, with ``used`` carried back; elsewhere: a
detached token).

Single use across processes: a token the caller minted in the Context it
submits from is *bound* in the task: the worker's task Context gets a stdlib
token with the same ``old_value``, so the task can reset it; the result carries
``used`` back and the caller's own reset then raises the T3 RuntimeError.  A
token minted anywhere else (a sibling Context) travels detached: it can be
inspected and returned, and only a reset raises (T12, T13).  Nothing is kept
per token beyond the dispatch that carries it, so the record stays bounded
(T16).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from ctxprop_reference import vars as _vars

__all__ = [
    "TokenRef",
    "bound_copy",
    "decode",
    "encode",
    "minted_here",
    "rebind_here",
    "restore",
    "tokens_in",
]


@dataclass(frozen=True)
class TokenRef:
    """A token on the wire: its wire data, and whether the task may reset it."""

    wire: dict[str, Any]
    bound: bool = False


def minted_here(token: _vars.Token[Any]) -> bool:
    """Whether ``token`` can be reset in the current Context (without spending it).

    The stdlib check is the only one that knows a token's Context: the token is
    reset, and, if that worked, the var is set back to its value at once, which
    gives an equivalent stdlib token (same var, same ``old_value``, same
    Context, unused) that replaces the spent one inside the reference token.
    """
    if token._used:
        return False
    stdlib_var = token._var._stdlib_var
    try:
        current = stdlib_var.get()
    except LookupError:
        return False
    try:
        stdlib_var.reset(token._stdlib_token)
    except (ValueError, RuntimeError):
        return False
    token._stdlib_token = stdlib_var.set(current)
    return True


def encode(value: Any, *, here: bool = False) -> Any:
    """``value`` with every reference Token replaced by a :class:`TokenRef`.

    ``here``: mark tokens minted in the current Context as bound (the submit
    side).  Walks tuples, lists, dicts and exception ``args``.
    """
    if type(value) is _vars.Token:
        return TokenRef(value.__ctxprop_wire__(), here and minted_here(value))
    if isinstance(value, BaseException):
        value.args = tuple(encode(a, here=here) for a in value.args)
        return value
    if type(value) in (tuple, list):
        return type(value)(encode(v, here=here) for v in value)
    if type(value) is dict:
        return {k: encode(v, here=here) for k, v in value.items()}
    return value


def decode(value: Any, bound: list[tuple[_vars.Token[Any], bool]] | None = None) -> Any:
    """``value`` with every :class:`TokenRef` turned back into a token.

    ``bound`` collects ``(token, bound)`` pairs for :func:`restore` (the worker side).
    """
    if isinstance(value, TokenRef):
        token = _vars.Token.from_wire(value.wire)
        if bound is not None:
            bound.append((token, value.bound))
        return token
    if isinstance(value, BaseException):
        value.args = tuple(decode(a, bound) for a in value.args)
        return value
    if type(value) in (tuple, list):
        return type(value)(decode(v, bound) for v in value)
    if type(value) is dict:
        return {k: decode(v, bound) for k, v in value.items()}
    return value


def restore(snapshot: Any, tokens: list[tuple[_vars.Token[Any], bool]]) -> contextvars.Context:
    """A fresh Context holding ``snapshot``'s values, with the bound tokens resettable there.

    The bound tokens of one var X, in the order they came (the order they were
    minted), are minted again in the new Context as a chain of sets ending at
    X's snapshot value, so each gets a stdlib token with its own ``old_value``:
    resetting one in the task puts X back to that value, or unsets it.  A token
    whose var is not in the snapshot stays detached.
    """
    values: dict[str, Any] = snapshot._values
    stdlib_vars: dict[str, contextvars.ContextVar[Any]] = snapshot._stdlib_vars
    id_of = {id(var): var_id for var_id, var in stdlib_vars.items()}
    chains: dict[str, list[_vars.Token[Any]]] = {}
    for token, is_bound in tokens:
        var_id = id_of.get(id(token._var._stdlib_var))
        if is_bound and not token._used and var_id in values:
            chains.setdefault(var_id, []).append(token)

    def build() -> None:
        for var_id, value in values.items():
            stdlib_var = stdlib_vars[var_id]
            chain = chains.get(var_id, [])
            if chain and chain[0].old_value is not _vars.Token.MISSING:
                stdlib_var.set(chain[0].old_value)
            for k, token in enumerate(chain):
                after = chain[k + 1].old_value if k + 1 < len(chain) else value
                token._stdlib_token = stdlib_var.set(after)
            if not chain:
                stdlib_var.set(value)

    context = contextvars.Context()
    context.run(build)
    return context


def tokens_in(value: Any) -> list[_vars.Token[Any]]:
    """Every reference Token in ``value`` (tuples, lists, dicts, exception args)."""
    if type(value) is _vars.Token:
        return [value]
    if isinstance(value, BaseException):
        value = value.args
    if type(value) in (tuple, list):
        return [t for v in value for t in tokens_in(v)]
    if type(value) is dict:
        return [t for v in value.values() for t in tokens_in(v)]
    return []


def bound_copy(tokens: list[_vars.Token[Any]]) -> contextvars.Context:
    """A copy of the current Context in which ``tokens`` (minted here) are resettable.

    For an in-process awaited call whose task runs in its own Context: like
    :func:`restore`, from the current values instead of a snapshot.  The
    tokens' own stdlib tokens are replaced; :func:`unbind` puts them back.
    """
    chains: dict[int, list[_vars.Token[Any]]] = {}
    for token in tokens:
        chains.setdefault(id(token._var._stdlib_var), []).append(token)
    items = list(contextvars.copy_context().items())

    def build() -> None:
        for stdlib_var, value in items:
            chain = chains.get(id(stdlib_var), [])
            if chain and chain[0].old_value is not _vars.Token.MISSING:
                stdlib_var.set(chain[0].old_value)
            for k, token in enumerate(chain):
                token._stdlib_token = stdlib_var.set(
                    chain[k + 1].old_value if k + 1 < len(chain) else value
                )
            if not chain:
                stdlib_var.set(value)

    context = contextvars.Context()
    context.run(build)
    return context


def rebind_here(token: _vars.Token[Any], value: Any) -> None:
    """Set ``token``'s var to ``value`` here so that ``token`` resets it (T14).

    For a token minted in a task whose change is applied to the caller: the
    caller's var is still at the token's ``old_value``, so this set mints the
    stdlib token the caller's reset needs.
    """
    token._stdlib_token = token._var._stdlib_var.set(value)
