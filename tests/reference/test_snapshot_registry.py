"""Which vars travel: stable ids, duplicates refused, F3, F9, S5, fresh Contexts."""

from __future__ import annotations

import contextvars

import pytest
import snapshot_probe_vars as probe_vars

from ctxprop_conformance import probes
from ctxprop_reference.snapshot import (
    DuplicateVarIdError,
    SnapshotSerializer,
    UnknownVarError,
    VarRegistry,
    VarSpec,
)
from ctxprop_reference.vars import ContextVar as ReferenceContextVar

MODULE = "snapshot_probe_vars"


def _ship(serializer: SnapshotSerializer, context: contextvars.Context | None = None):
    return serializer.loads("t", serializer.dumps("t", context))


def test_stdlib_var_needs_an_explicit_id(registry):
    with pytest.raises(TypeError, match="no stable identity"):
        registry.register(contextvars.ContextVar("x"))
    assert registry.register(contextvars.ContextVar("x"), "app:x") == "app:x"


def test_reference_var_is_registered_as_namespace_name(registry):
    assert registry.register(probe_vars.USER) == "snapshot-tests:user"
    assert "snapshot-tests:user" in registry


@pytest.mark.parametrize("bad", ["", "nocolon", ":name", "ns:", "ns:has space", 7])
def test_malformed_ids_are_refused(registry, bad):
    with pytest.raises(ValueError, match="namespace:name"):
        registry.register(contextvars.ContextVar("x"), bad)


def test_a_taken_id_is_refused(registry):
    registry.register(contextvars.ContextVar("a"), "app:v")
    with pytest.raises(DuplicateVarIdError, match="'app:v' is already registered"):
        registry.register(contextvars.ContextVar("b"), "app:v")


def test_one_var_under_two_ids_is_refused(registry):
    var = contextvars.ContextVar("a")
    registry.register(var, "app:a")
    with pytest.raises(DuplicateVarIdError, match="already registered as 'app:a'"):
        registry.register(var, "app:other")


def test_register_importable_uses_the_import_path(registry):
    assert registry.register_importable(f"{MODULE}:REQUEST_ID") == f"{MODULE}:REQUEST_ID"
    assert registry.var(f"{MODULE}:REQUEST_ID") is probe_vars.REQUEST_ID
    # a reference var found by path keeps its own namespace:name identity
    assert registry.register_importable(f"{MODULE}:USER") == "snapshot-tests:user"


def test_the_suites_probe_vars_register_by_module_attribute(registry):
    var_id = registry.register_importable("ctxprop_conformance.probes:V")
    assert registry.var(var_id) is probes.V


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("__main__:V", ValueError, "main script"),
        (f"{MODULE}:MISSING", LookupError, "no attribute 'MISSING'"),
        ("not a path", ValueError, "module:attribute"),
        (f"{MODULE}:Money", TypeError, "expected a contextvars.ContextVar"),
    ],
)
def test_register_importable_refuses_what_a_worker_could_not_resolve(
    registry, path, error, message
):
    with pytest.raises(error, match=message):
        registry.register_importable(path)


def test_f9_unregistered_vars_never_travel(registry):
    registry.register(probe_vars.REQUEST_ID, "app:request_id")
    serializer = SnapshotSerializer(registry)
    context = contextvars.Context()
    context.run(probe_vars.REQUEST_ID.set, "r-1")
    context.run(probe_vars.UNREGISTERED.set, "sentry-scope-of-the-caller")
    record = serializer.dumps("t", context)
    assert b"sentry-scope" not in record
    restored = serializer.loads("t", record).restore()
    assert restored[probe_vars.REQUEST_ID] == "r-1"
    assert probe_vars.UNREGISTERED not in restored
    assert restored.run(probe_vars.UNREGISTERED.get) == "clean"


def test_s5_default_only_var_is_not_shipped(registry):
    registry.register(probe_vars.TENANT, "app:tenant")
    serializer = SnapshotSerializer(registry)
    record = serializer.dumps("t", contextvars.Context())
    assert b"app:tenant" not in record
    assert b"no-tenant" not in record
    snapshot = serializer.loads("t", record)
    assert snapshot.var_ids == ()
    assert snapshot.run(probe_vars.TENANT.get) == "no-tenant"


def test_a_var_set_to_its_default_value_is_shipped(registry):
    registry.register(probe_vars.TENANT, "app:tenant")
    serializer = SnapshotSerializer(registry)
    context = contextvars.Context()
    context.run(probe_vars.TENANT.set, "no-tenant")
    assert _ship(serializer, context).var_ids == ("app:tenant",)


@pytest.mark.parametrize("module", [contextvars, ReferenceContextVar])
def test_f3_a_var_reset_to_unset_stays_unset(registry, module):
    var = (
        contextvars.ContextVar("reset-me")
        if module is contextvars
        else ReferenceContextVar("reset-me")
    )
    registry.register(var, "app:reset-me")
    serializer = SnapshotSerializer(registry)

    def set_then_reset() -> bytes:
        var.reset(var.set("x"))
        return serializer.dumps("t")

    record = contextvars.Context().run(set_then_reset)
    snapshot = serializer.loads("t", record)
    assert snapshot.var_ids == ()
    with pytest.raises(LookupError):
        snapshot.run(var.get)


def test_reference_vars_travel_and_are_read_through_the_reference_api(registry):
    registry.register(probe_vars.USER)
    serializer = SnapshotSerializer(registry)
    record = contextvars.Context().run(
        lambda: (probe_vars.USER.set("ada"), serializer.dumps("t"))[1]
    )
    assert serializer.loads("t", record).run(probe_vars.USER.get) == "ada"


def test_restore_gives_a_fresh_context_every_time(registry):
    registry.register(probe_vars.REQUEST_ID, "app:request_id")
    serializer = SnapshotSerializer(registry)
    context = contextvars.Context()
    context.run(probe_vars.REQUEST_ID.set, "r-1")
    snapshot = _ship(serializer, context)
    first = snapshot.restore()
    first.run(probe_vars.UNREGISTERED.set, "stale")  # a task leaves something behind
    first.run(probe_vars.REQUEST_ID.set, "changed by the task")
    second = snapshot.restore()
    assert second is not first
    assert second is not contextvars.copy_context()
    assert second[probe_vars.REQUEST_ID] == "r-1"
    assert probe_vars.UNREGISTERED not in second


def test_the_workers_own_context_never_leaks_in(registry):
    registry.register(probe_vars.REQUEST_ID, "app:request_id")
    serializer = SnapshotSerializer(registry)
    record = serializer.dumps("t", contextvars.Context())

    def worker() -> contextvars.Context:
        probe_vars.UNREGISTERED.set("worker-ambient")
        probe_vars.REQUEST_ID.set("previous task")
        return serializer.loads("t", record).restore()

    restored = contextvars.Context().run(worker)
    assert probe_vars.UNREGISTERED not in restored
    assert probe_vars.REQUEST_ID not in restored


def test_unregister_stops_a_var_travelling(registry):
    registry.register(probe_vars.REQUEST_ID, "app:request_id")
    registry.unregister("app:request_id")
    context = contextvars.Context()
    context.run(probe_vars.REQUEST_ID.set, "r-1")
    assert _ship(SnapshotSerializer(registry), context).var_ids == ()
    with pytest.raises(KeyError):
        registry.unregister("app:request_id")


def test_specs_rebuild_the_same_registry(registry):
    registry.register_importable(f"{MODULE}:REQUEST_ID")
    registry.register_importable(f"{MODULE}:AUTH_TOKEN", secret=True)
    registry.register(probe_vars.USER)
    specs = registry.specs()
    assert specs[1] == VarSpec(f"{MODULE}:AUTH_TOKEN", f"{MODULE}:AUTH_TOKEN", True)
    rebuilt = VarRegistry.from_specs(specs)
    assert list(rebuilt) == list(registry)
    assert rebuilt.is_secret(f"{MODULE}:AUTH_TOKEN")
    assert not rebuilt.is_secret(f"{MODULE}:REQUEST_ID")
    assert rebuilt.var("snapshot-tests:user") is probe_vars.USER


def test_from_specs_names_a_var_it_cannot_resolve():
    with pytest.raises(UnknownVarError, match="'app:local'"):
        VarRegistry.from_specs([VarSpec("app:local", None, False)])
