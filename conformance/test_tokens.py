"""SPEC T1-T10: local token parity with the running interpreter's ``contextvars``.

Each check drives the same scenario on the selected implementation and on the
stdlib and compares every step (see ``_token_oracle`` for the normalisation).
The fixture ``ctxprop_contextvars`` is provided by the plugin, one value per
``--ctxprop-contextvars`` selection.  Scenarios are module functions taking the
contextvars-like module ``cv``, so they read like CPython's test_context.py.
"""

from __future__ import annotations

import contextvars
import copy
import pickle
import types
from functools import partial
from typing import Any

from pytest_ctxprop._verdicts import not_applicable

from ._token_oracle import (
    Labels,
    Observations,
    check_parity,
    elide_addresses,
    implementation_module,
    missing_sentinel,
    safe_str,
    violation,
)


def _token_attributes(cv: Any) -> Observations:
    var = cv.ContextVar("var")
    with_default = cv.ContextVar("with_default", default="d")
    first = var.set("a")
    second = var.set("b")
    over_default = with_default.set("x")
    labels = Labels(
        {"var": var, "with_default": with_default, "first": first, "second": second},
        missing_sentinel(cv),
    )
    return {
        "first = var.set('a') (var unset); first.var": labels.observe(lambda: first.var),
        "first.old_value": labels.observe(lambda: first.old_value),
        "second = var.set('b'); second.var": labels.observe(lambda: second.var),
        "second.old_value": labels.observe(lambda: second.old_value),
        "with_default.set('x').old_value (default is not a value)": labels.observe(
            lambda: over_default.old_value
        ),
    }


def test_T1_token_var_and_old_value(ctxprop_contextvars: Any) -> None:
    """T1: a token tells which var it set and what the var held before."""
    check_parity(
        "T1",
        "tok = V.set(x): tok.var is V; tok.old_value is Token.MISSING if V was unset, "
        "else the previous value",
        _token_attributes,
        ctxprop_contextvars,
    )


def _fresh_token_reset(cv: Any) -> Observations:
    var = cv.ContextVar("var")
    with_default = cv.ContextVar("with_default", default="d")
    labels = Labels({"var": var, "with_default": with_default})
    seen: Observations = {}
    tok = var.set("a")
    seen["var.reset(tok) (var was unset)"] = labels.observe(lambda: var.reset(tok))
    seen["var.get() after reset"] = labels.observe(var.get)
    seen["var.get('fallback') after reset"] = labels.observe(lambda: var.get("fallback"))
    var.set("a")
    tok = var.set("b")
    seen["var.reset(tok) (var was 'a')"] = labels.observe(lambda: var.reset(tok))
    seen["var.get() back to 'a'"] = labels.observe(var.get)
    tok = with_default.set("x")
    with_default.reset(tok)
    seen["with_default.get() after reset"] = labels.observe(with_default.get)
    outer_var = cv.ContextVar("outer_var")
    labels.add("outer_var", outer_var)
    outer = outer_var.set(1)
    inner = outer_var.set(2)
    outer_var.reset(outer)
    seen["reset out of order: outer first, then get()"] = labels.observe(outer_var.get)
    outer_var.reset(inner)
    seen["reset out of order: then inner, then get()"] = labels.observe(outer_var.get)
    return seen


def test_T2_fresh_token_restores(ctxprop_contextvars: Any) -> None:
    """T2: resetting a fresh token restores the previous value, or unsets the var."""
    check_parity(
        "T2",
        "V.reset(fresh token): V back to its previous value, or unset (get() raises LookupError)",
        _fresh_token_reset,
        ctxprop_contextvars,
    )


def _used_token_reset(cv: Any) -> Observations:
    var = cv.ContextVar("var")
    tok = var.set("a")
    var.reset(tok)
    labels = Labels({"var": var, "tok": tok})
    return {"var.reset(tok) a second time": labels.observe(lambda: var.reset(tok))}


def test_T3_used_token_rejected(ctxprop_contextvars: Any) -> None:
    """T3: a token is single use."""
    check_parity(
        "T3",
        "V.reset(used token) raises RuntimeError '... has already been used once'",
        _used_token_reset,
        ctxprop_contextvars,
    )


def _other_var_reset(cv: Any) -> Observations:
    var = cv.ContextVar("var")
    other = cv.ContextVar("other")
    tok = var.set("a")
    labels = Labels({"var": var, "other": other, "tok": tok})
    return {"other.reset(tok) (tok from var)": labels.observe(lambda: other.reset(tok))}


def test_T4_token_of_other_var_rejected(ctxprop_contextvars: Any) -> None:
    """T4: a token only resets the var that minted it."""
    check_parity(
        "T4",
        "V.reset(token of another var) raises ValueError '... was created by a different "
        "ContextVar'",
        _other_var_reset,
        ctxprop_contextvars,
    )


def _other_context_reset(cv: Any) -> Observations:
    var = cv.ContextVar("var")
    sibling = cv.copy_context()
    from_sibling = sibling.run(var.set, "a")
    from_here = var.set("b")
    empty = cv.Context()
    labels = Labels(
        {"var": var, "from_sibling": from_sibling, "from_here": from_here, "sibling": sibling}
    )
    return {
        "var.reset(from_sibling) here": labels.observe(
            lambda: var.reset(from_sibling), "var", "from_sibling"
        ),
        "sibling.run(var.reset, from_here)": labels.observe(
            lambda: sibling.run(var.reset, from_here), "var", "from_here", "sibling"
        ),
        "Context().run(var.reset, from_here)": labels.observe(
            lambda: empty.run(var.reset, from_here), "var", "from_here"
        ),
    }


def test_T5_token_of_other_context_rejected(ctxprop_contextvars: Any) -> None:
    """T5: a token only resets in the Context that minted it."""
    check_parity(
        "T5",
        "V.reset(token minted in another Context) raises ValueError '... was created in a "
        "different Context'",
        _other_context_reset,
        ctxprop_contextvars,
    )


def _non_token_reset(cv: Any) -> Observations:
    var = cv.ContextVar("var")
    context = cv.copy_context()
    look_alike = types.SimpleNamespace(var=var, old_value=missing_sentinel(cv))
    labels = Labels({"var": var, "context": context, "look_alike": look_alike})
    candidates: dict[str, object] = {
        "None": None,
        "1": 1,
        "'token'": "token",
        "object()": object(),
        "var itself": var,
        "a Context": context,
        "a look-alike with .var and .old_value": look_alike,
    }
    return {
        f"var.reset({shown})": labels.observe(partial(var.reset, arg))
        for shown, arg in candidates.items()
    }


def test_T6_non_token_rejected(ctxprop_contextvars: Any) -> None:
    """T6: reset takes tokens only, and says what it got."""
    check_parity(
        "T6",
        "V.reset(non-token x) raises TypeError 'expected an instance of Token, got {x!r}'",
        _non_token_reset,
        ctxprop_contextvars,
    )


def _check_order(cv: Any) -> Observations:
    var = cv.ContextVar("var")
    other = cv.ContextVar("other")
    elsewhere = cv.copy_context()
    used = var.set("a")
    var.reset(used)
    used_elsewhere = elsewhere.run(var.set, "b")
    elsewhere.run(var.reset, used_elsewhere)
    fresh_elsewhere = elsewhere.run(var.set, "c")
    labels = Labels(
        {
            "var": var,
            "other": other,
            "elsewhere": elsewhere,
            "used": used,
            "used_elsewhere": used_elsewhere,
            "fresh_elsewhere": fresh_elsewhere,
        }
    )
    return {
        "used + other var: other.reset(used)": labels.observe(
            lambda: other.reset(used), "other", "used"
        ),
        "used + other Context: elsewhere.run(var.reset, used)": labels.observe(
            lambda: elsewhere.run(var.reset, used), "var", "used", "elsewhere"
        ),
        "used + other var + other Context: other.reset(used_elsewhere)": labels.observe(
            lambda: other.reset(used_elsewhere), "other", "used_elsewhere"
        ),
        "other var + other Context: other.reset(fresh_elsewhere)": labels.observe(
            lambda: other.reset(fresh_elsewhere), "other", "fresh_elsewhere"
        ),
    }


def test_T7_check_order(ctxprop_contextvars: Any) -> None:
    """T7: with several faults, the first check in stdlib order decides the error."""
    check_parity(
        "T7",
        "a token failing several checks is judged in stdlib order: type, used, var, context",
        _check_order,
        ctxprop_contextvars,
    )


def _rejected_reset_changes_nothing(cv: Any) -> Observations:
    var = cv.ContextVar("var")
    other = cv.ContextVar("other", default="o")
    var.set("before")
    elsewhere = cv.copy_context()
    tok = var.set("a")
    in_elsewhere = elsewhere.run(var.set, "e")
    labels = Labels({"var": var, "other": other, "tok": tok, "in_elsewhere": in_elsewhere})
    seen: Observations = {}
    seen["other.reset(tok) is rejected"] = labels.observe(lambda: other.reset(tok), "other", "tok")
    seen["then var.get()"] = labels.observe(var.get)
    seen["then other.get()"] = labels.observe(other.get)
    seen["var.reset(None) is rejected"] = labels.observe(lambda: var.reset(None))
    seen["then var.get() again"] = labels.observe(var.get)
    seen["var.reset(in_elsewhere) here is rejected"] = labels.observe(
        lambda: var.reset(in_elsewhere), "var", "in_elsewhere"
    )
    seen["then var.get() here"] = labels.observe(var.get)
    seen["then var.get() in elsewhere"] = labels.observe(lambda: elsewhere.run(var.get))
    seen["tok is still fresh: var.reset(tok)"] = labels.observe(
        lambda: var.reset(tok), "var", "tok"
    )
    seen["then var.get() is 'before'"] = labels.observe(var.get)
    seen["in_elsewhere is still fresh: elsewhere.run(var.reset, in_elsewhere)"] = labels.observe(
        lambda: elsewhere.run(var.reset, in_elsewhere), "var", "in_elsewhere"
    )
    seen["then var.get() in elsewhere is 'before'"] = labels.observe(lambda: elsewhere.run(var.get))
    var.set("after")
    seen["var.reset(tok) once more is rejected (used)"] = labels.observe(
        lambda: var.reset(tok), "var", "tok"
    )
    seen["then var.get() is still 'after'"] = labels.observe(var.get)
    return seen


def test_T8_rejected_reset_changes_nothing(ctxprop_contextvars: Any) -> None:
    """T8: a rejected reset leaves the var's value and the token's used state alone."""
    check_parity(
        "T8",
        "after any rejected reset, the var's value and the token's used state are unchanged",
        _rejected_reset_changes_nothing,
        ctxprop_contextvars,
    )


def _copy_attempts() -> dict[str, Any]:
    import cloudpickle  # type: ignore[import-untyped]

    attempts: dict[str, Any] = {
        f"pickle.dumps(tok, protocol={p})": lambda tok, p=p: pickle.dumps(tok, protocol=p)
        for p in range(pickle.HIGHEST_PROTOCOL + 1)
    }
    attempts["cloudpickle.dumps(tok)"] = cloudpickle.dumps
    attempts["copy.copy(tok)"] = copy.copy
    attempts["copy.deepcopy(tok)"] = copy.deepcopy
    attempts["copy.deepcopy([tok])"] = lambda tok: copy.deepcopy([tok])
    return attempts


WIRE_HOOK = "__ctxprop_wire__"


def _refusal_problem(copier: Any, tok: Any, names_path: bool) -> tuple[str, str] | None:
    """(expected, observed) when ``copier(tok)`` is not the refusal T9 asks for."""
    try:
        copier(tok)
    except TypeError as error:
        message = elide_addresses(safe_str(error))
        if names_path and WIRE_HOOK not in message:
            expected = f"TypeError naming {WIRE_HOOK} (Token offers it)"
            return expected, f"raised TypeError: {message}"
        return None
    except Exception as error:
        return "raised TypeError", f"raised {type(error).__qualname__}: {safe_str(error)}"
    return "raised TypeError", "returned normally: the token was copied"


def test_T9_token_refuses_copies(ctxprop_contextvars: Any) -> None:
    """T9: vanilla pickle/cloudpickle/copy/deepcopy refuse a live token with TypeError.

    A copy would be a second, independent "single use".  When the implementation
    offers the ctxprop wire hook (``Token.__ctxprop_wire__``), the refusal must
    name it, so users find the supported path; the stdlib has none, so any
    TypeError is parity there.  A refusal must leave the token usable.
    """
    cv = implementation_module(ctxprop_contextvars)
    context = cv.copy_context()
    var = cv.ContextVar("var")
    tok = context.run(var.set, "a")
    names_path = hasattr(cv.Token, WIRE_HOOK)
    problems = [
        (attempt, *problem)
        for attempt, copier in _copy_attempts().items()
        if (problem := _refusal_problem(copier, tok, names_path)) is not None
    ]
    after = Labels({"var": var, "tok": tok}).observe(lambda: context.run(var.reset, tok))
    if after.exception is not None:
        problems.append(
            ("var.reset(tok) after them", "returned None (token still usable)", str(after))
        )
    if problems:
        step, expected, observed = problems[0]
        raise violation(
            "T9",
            "vanilla pickle, cloudpickle, copy, deepcopy raise TypeError naming the supported path",
            ctxprop_contextvars,
            step=step,
            expected=expected,
            observed=elide_addresses(observed),
        )


def _token_as_context_manager(cv: Any) -> Observations:
    var = cv.ContextVar("var")
    with_default = cv.ContextVar("with_default", default="d")
    labels = Labels({"var": var, "with_default": with_default})
    seen: Observations = {}

    def normal_exit() -> None:
        with var.set("a") as tok:
            labels.add("tok", tok)
            seen["inside `with var.set('a') as tok`: var.get()"] = labels.observe(var.get)
            seen["tok.var"] = labels.observe(lambda: tok.var)

    seen["`with var.set('a')` exits normally"] = labels.observe(normal_exit)
    seen["after the block: var.get()"] = labels.observe(var.get)

    def raising_block() -> None:
        var.set("before")
        with var.set("b"), with_default.set("x"):
            raise KeyError("boom")

    seen["an exception escapes the block (not suppressed)"] = labels.observe(raising_block)
    seen["after the raising block: var.get()"] = labels.observe(var.get)
    seen["after the raising block: with_default.get()"] = labels.observe(with_default.get)

    def explicit_reset_inside() -> None:
        with var.set("c") as explicit:
            labels.add("explicit", explicit)
            var.reset(explicit)

    seen["explicit var.reset(explicit) inside: the exit raises"] = labels.observe(
        explicit_reset_inside, "var", "explicit"
    )
    seen["after the explicit reset: var.get()"] = labels.observe(var.get)
    return seen


def test_T10_token_context_manager(ctxprop_contextvars: Any) -> None:
    """T10: on interpreters whose Token is a context manager, ``with V.set(x):`` matches."""
    if not hasattr(contextvars.Token, "__enter__"):
        not_applicable(
            "Token is a context manager only where the running stdlib's Token has __enter__ "
            "(Python 3.14+); this interpreter's has not"
        )
    check_parity(
        "T10",
        "`with V.set(x):` restores V on normal and exceptional exit, does not suppress the "
        "exception, and an explicit reset inside makes the exit raise RuntimeError",
        _token_as_context_manager,
        ctxprop_contextvars,
    )
