"""The runtime under test, as the conformance tests see it (fixture ``ctxprop_runtime``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ctxprop_conformance import properties
from ctxprop_conformance.driver import Scenario, Setup, run_scenario
from ctxprop_conformance.expect import Expect
from pytest_ctxprop._verdicts import HarnessError, not_applicable
from pytest_ctxprop.adapter import AsyncRuntimeAdapter, RuntimeAdapter, Traits

T = TypeVar("T")


@dataclass
class RuntimeUnderTest:
    """One selected runtime: a fresh adapter per scenario, checks that report."""

    name: str
    factory: Callable[[], Any]
    traits: Traits
    timeout: float = 10.0
    #: where notes go (the test item's user_properties), set by the fixture
    sink: list[tuple[str, object]] = field(default_factory=list)

    def require(self, condition: bool, reason: str) -> None:
        """End the check as ``n/a`` unless the runtime's traits make it meaningful."""
        if not condition:
            not_applicable(reason)

    def expect(self, property_id: str) -> Expect:
        expect = Expect(properties.get(property_id), self.name)
        self.sink.append(("ctxprop_notes", expect.notes))
        return expect

    def new_adapter(self) -> RuntimeAdapter | AsyncRuntimeAdapter:
        adapter = self.factory()
        if not isinstance(adapter, RuntimeAdapter | AsyncRuntimeAdapter):
            raise HarnessError(f"factory of {self.name} returned {adapter!r}, not an adapter")
        return adapter

    def run(self, scenario: Scenario[T], setup: Setup | None = None) -> T:
        """Run a scenario against a fresh instance of the runtime."""
        return run_scenario(self.new_adapter(), scenario, setup, self.timeout)
