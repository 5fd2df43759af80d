"""What the reference adds beyond stdlib parity: identity, refusal messages, the wire
hook, Python 3.14 token context manager on every version, and interop with tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import json
import pickle
import threading
import uuid
from typing import Any

import cloudpickle
import pytest

import ctxprop_reference.vars as ref
from ctxprop_conformance._token_oracle import run_scenario
from ctxprop_conformance.test_tokens import _token_as_context_manager


def unique_namespace() -> str:
    return f"tests.tokens.{uuid.uuid4().hex}"


def test_the_stdlib_pieces_are_the_stdlib() -> None:
    assert ref.MISSING is ref.Token.MISSING is contextvars.Token.MISSING
    assert ref.Context is contextvars.Context
    assert ref.copy_context is contextvars.copy_context


def test_tokens_only_come_from_vars() -> None:
    with pytest.raises(RuntimeError, match=r"^Tokens can only be created by ContextVars$"):
        ref.Token()


def test_var_name_must_be_a_str_like_the_stdlib() -> None:
    with pytest.raises(TypeError, match=r"^context variable name must be a str$"):
        ref.ContextVar(1)  # type: ignore[arg-type]


def test_generic_aliases_work_like_the_stdlib() -> None:
    assert ref.ContextVar[int].__origin__ is ref.ContextVar
    assert ref.Token[int].__origin__ is ref.Token


def test_reprs_follow_the_stdlib_and_show_the_namespace() -> None:
    plain = ref.ContextVar("plain", default=1)
    declared = ref.ContextVar("declared", namespace="tests.reprs." + uuid.uuid4().hex)
    assert repr(plain) == f"<ContextVar name='plain' default=1 at 0x{id(plain):x}>"
    assert repr(declared).startswith("<ContextVar name='declared' namespace='tests.reprs.")
    token = plain.set(2)
    assert repr(token) == f"<Token var={plain!r} at 0x{id(token):x}>"
    plain.reset(token)
    assert repr(token).startswith("<Token used var=")


def test_lookup_error_carries_the_var_itself() -> None:
    var = ref.ContextVar("unset")
    with pytest.raises(LookupError) as caught:
        var.get()
    assert caught.value.args == (var,)


def test_declared_var_is_found_by_its_identity() -> None:
    namespace = unique_namespace()
    var = ref.ContextVar("request_id", namespace=namespace)
    assert (var.namespace, var.name) == (namespace, "request_id")
    assert ref.lookup(namespace, "request_id") is var


def test_declaring_an_identity_twice_is_a_clear_error() -> None:
    namespace = unique_namespace()
    ref.ContextVar("request_id", namespace=namespace)
    with pytest.raises(ref.DuplicateContextVarError) as caught:
        ref.ContextVar("request_id", namespace=namespace)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert f"'request_id' is already declared in namespace '{namespace}'" in message
    assert "declare it once at module level and import it" in message


def test_process_local_vars_may_share_a_name_like_the_stdlib() -> None:
    first, second = ref.ContextVar("same"), ref.ContextVar("same")
    assert first is not second
    assert first.namespace is None


@pytest.mark.parametrize("namespace", ["", 3])
def test_namespace_must_be_a_non_empty_str(namespace: Any) -> None:
    with pytest.raises(TypeError, match="namespace must be a non-empty str"):
        ref.ContextVar("x", namespace=namespace)


def test_lookup_of_an_undeclared_identity_says_what_to_import() -> None:
    with pytest.raises(LookupError, match=r"no ContextVar is declared as \('nowhere', 'x'\)"):
        ref.lookup("nowhere", "x")


REFUSALS = {
    "pickle": pickle.dumps,
    "cloudpickle": cloudpickle.dumps,
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("how", sorted(REFUSALS))
def test_token_refusal_names_the_wire_hook(how: str) -> None:
    var = ref.ContextVar("v")
    token = var.set(1)
    with pytest.raises(TypeError) as caught:
        REFUSALS[how](token)
    assert "token.__ctxprop_wire__()" in str(caught.value)
    assert "Token.from_wire(data)" in str(caught.value)
    var.reset(token)  # still usable


@pytest.mark.parametrize("how", sorted(REFUSALS))
def test_var_refusal_names_lookup(how: str) -> None:
    with pytest.raises(TypeError, match=r"lookup\(\)"):
        REFUSALS[how](ref.ContextVar("v"))


def declared_token(value: object = "a") -> tuple[Any, Any]:
    var = ref.ContextVar("v", namespace=unique_namespace())
    return var, var.set(value)


def test_wire_data_is_plain_and_complete() -> None:
    var, token = declared_token()
    data = token.__ctxprop_wire__()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "format": ref.WIRE_FORMAT,
        "id": data["id"],
        "namespace": var.namespace,
        "name": "v",
        "used": False,
        "has_old_value": False,
        "old_value": None,
    }
    assert len(data["id"]) == 32
    assert token.__ctxprop_wire__()["id"] == data["id"]  # stable per token


def test_wire_round_trip_in_process_is_the_same_token() -> None:
    var, first = declared_token("a")
    second = var.set("b")
    data = second.__ctxprop_wire__()
    assert data["has_old_value"] is True
    assert data["old_value"] == "a"
    back = ref.Token.from_wire(data)
    assert back is second
    var.reset(back)
    assert var.get() == "a"
    assert second.__ctxprop_wire__()["used"] is True
    var.reset(first)


def test_a_reset_reported_from_elsewhere_sticks_and_never_unsticks() -> None:
    var, token = declared_token()
    data = token.__ctxprop_wire__()
    ref.Token.from_wire({**data, "used": True})  # the task reset it remotely
    with pytest.raises(RuntimeError, match="has already been used once"):
        var.reset(token)
    assert ref.Token.from_wire({**data, "used": False}).__ctxprop_wire__()["used"] is True


def elsewhere(data: dict[str, Any]) -> dict[str, Any]:
    """The same token seen from a process that did not mint it: an unknown id."""
    return {**data, "id": uuid.uuid4().hex}


def test_a_token_from_another_process_is_detached_but_truthful() -> None:
    var, token = declared_token("a")
    over = var.set("b")
    detached = ref.Token.from_wire(elsewhere(over.__ctxprop_wire__()))
    assert detached is not over
    assert detached.var is var
    assert detached.old_value == "a"
    fresh = ref.Token.from_wire(elsewhere(token.__ctxprop_wire__()))
    assert fresh.old_value is ref.MISSING
    for context in (contextvars.copy_context(), contextvars.Context()):
        with pytest.raises(ValueError, match=r"was created in a different Context$"):
            context.run(var.reset, detached)
    assert var.get() == "b"  # the rejected resets changed nothing


def test_a_detached_token_keeps_single_use() -> None:
    var, token = declared_token()
    data = elsewhere(token.__ctxprop_wire__())
    assert ref.Token.from_wire(data) is ref.Token.from_wire(data)
    used = ref.Token.from_wire({**elsewhere(data), "used": True})
    with pytest.raises(RuntimeError, match="has already been used once"):
        var.reset(used)


def test_only_declared_vars_tokens_travel() -> None:
    token = ref.ContextVar("local").set(1)
    with pytest.raises(TypeError, match=r"declare it as ContextVar\('local', namespace=\.\.\.\)"):
        token.__ctxprop_wire__()


def good_wire() -> dict[str, Any]:
    return dict(declared_token()[1].__ctxprop_wire__())


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"format": "ctxprop.token/0"}, ValueError, "format"),
        ({"id": "not-hex"}, ValueError, "'id' must be 32 lowercase hex"),
        ({"namespace": ""}, ValueError, "'namespace' must be a non-empty str"),
        ({"name": 5}, ValueError, "'name' must be a non-empty str"),
        ({"used": "yes"}, ValueError, "'used' must be a bool"),
        ({"has_old_value": 1}, ValueError, "'has_old_value' must be a bool"),
        ({"namespace": "never.declared"}, LookupError, "no ContextVar is declared"),
    ],
)
def test_from_wire_rejects_bad_data_by_field(change: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ref.Token.from_wire({**good_wire(), **change})


def test_from_wire_needs_old_value_and_a_mapping() -> None:
    data = good_wire()
    del data["old_value"]
    with pytest.raises(ValueError, match="'old_value' is missing"):
        ref.Token.from_wire(data)
    with pytest.raises(TypeError, match="must be a mapping"):
        ref.Token.from_wire([("format", ref.WIRE_FORMAT)])  # type: ignore[arg-type]


def test_from_wire_refuses_an_id_that_belongs_to_another_var() -> None:
    _, token = declared_token()
    other, _ = declared_token()
    data = {**token.__ctxprop_wire__(), "namespace": other.namespace}
    with pytest.raises(ValueError, match="belongs to"):
        ref.Token.from_wire(data)


def test_token_context_manager_has_python_314_semantics_on_every_version() -> None:
    seen = {
        step: str(outcome) for step, outcome in run_scenario(ref, _token_as_context_manager).items()
    }
    assert seen == {
        "inside `with var.set('a') as tok`: var.get()": "returned 'a'",
        "tok.var": "returned <var>",
        "`with var.set('a')` exits normally": "returned None",
        "after the block: var.get()": "raised LookupError: <var>",
        "an exception escapes the block (not suppressed)": "raised KeyError: 'boom'",
        "after the raising block: var.get()": "returned 'before'",
        "after the raising block: with_default.get()": "returned 'd'",
        "explicit var.reset(explicit) inside: the exit raises": (
            "raised RuntimeError: <explicit> has already been used once"
        ),
        "after the explicit reset: var.get()": "returned 'before'",
    }


def run_in_task_and_thread(cv: Any) -> list[str]:
    """A token minted by the caller, tried in an asyncio task and in a thread."""
    var = cv.ContextVar("v")
    outcomes: list[str] = []

    def attempt(token: Any) -> None:
        try:
            outcomes.append(f"read {var.get()!r}")
            var.reset(token)
            outcomes.append("reset")
        except ValueError as error:
            outcomes.append(str(error).rsplit("> ", 1)[-1])

    async def main() -> None:
        token = var.set("caller")
        await asyncio.create_task(asyncio.to_thread(attempt, token))
        await asyncio.get_running_loop().create_task(_call(attempt, token))
        thread = threading.Thread(target=cv.copy_context().run, args=(attempt, token))
        thread.start()
        thread.join()
        attempt(token)

    asyncio.run(main())
    return outcomes


async def _call(function: Any, *args: Any) -> None:
    function(*args)


def test_reference_agrees_with_stdlib_in_real_tasks_and_threads() -> None:
    outcomes = run_in_task_and_thread(ref)
    assert outcomes == run_in_task_and_thread(contextvars)
    assert outcomes[-2:] == ["read 'caller'", "reset"]
    assert outcomes.count("was created in a different Context") == 3
