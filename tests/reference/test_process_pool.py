"""ctxprop_reference.process_pool and token_dispatch, used as a library."""

from __future__ import annotations

import contextvars
import multiprocessing
import tempfile
from collections.abc import Iterator

import pytest

from ctxprop_conformance import probe_vars
from ctxprop_conformance.token_probe_vars import TV
from ctxprop_reference import token_dispatch
from ctxprop_reference.adapters import ProcessPoolForkserverAdapter
from ctxprop_reference.process_pool import ContextProcessPool, forkserver_socket_length
from ctxprop_reference.snapshot import VarRegistry
from pytest_ctxprop.adapter import RuntimeUnavailable


def read_v_and_u() -> tuple[str, str]:
    return probe_vars.V.get("<unset>"), probe_vars.U.get()


@pytest.fixture
def pool() -> Iterator[ContextProcessPool]:
    registry = VarRegistry()
    registry.register_importable(probe_vars.V.name)
    with ContextProcessPool(
        1, registry=registry, mp_context=multiprocessing.get_context("forkserver")
    ) as running:
        yield running


def test_registered_vars_travel_and_others_stay_home(pool: ContextProcessPool) -> None:
    def submit() -> tuple[str, str]:
        probe_vars.V.set("a")
        probe_vars.U.set("leak")  # not registered
        return pool.submit(read_v_and_u).result(30)

    assert contextvars.Context().run(submit) == ("a", "U-default")


def test_minted_here_tells_the_submitting_context_from_a_sibling() -> None:
    def check() -> tuple[bool, bool]:
        token = TV.set("x")
        here = token_dispatch.minted_here(token)
        sibling = contextvars.copy_context().run(TV.set, "y")
        return here, token_dispatch.minted_here(sibling)

    assert contextvars.Context().run(check) == (True, False)


def test_minted_here_leaves_the_token_and_the_value_as_they_were() -> None:
    def check() -> tuple[object, object]:
        TV.set("before")
        token = TV.set("x")
        token_dispatch.minted_here(token)
        value = TV.get()
        TV.reset(token)
        return value, TV.get()

    assert contextvars.Context().run(check) == ("x", "before")


def test_a_too_long_tmpdir_makes_the_forkserver_runtime_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", "/tmp/" + "x" * 100)
    assert forkserver_socket_length() is not None
    with pytest.raises(RuntimeUnavailable, match="use a shorter TMPDIR"):
        ProcessPoolForkserverAdapter()
