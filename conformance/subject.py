"""The runtime under test, as the conformance tests see it (fixture ``ctxprop_runtime``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ctxprop_conformance import properties
from ctxprop_conformance.caller import RuntimeFailure
from ctxprop_conformance.driver import Scenario, Setup, run_scenario
from ctxprop_conformance.expect import Expect
from pytest_ctxprop._verdicts import AdapterError, HarnessError, PropertyViolation, not_applicable
from pytest_ctxprop.adapter import AsyncRuntimeAdapter, RuntimeAdapter, Traits, contract_problems

#: the first lifecycle error of each (runtime, method) in this process: later checks
#: of the same runtime name it in one line instead of repeating the traceback
_FIRST_ERRORS: dict[tuple[str, str], str] = {}
_FIRST_LOCK = threading.Lock()


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
        try:
            adapter = self.factory()
        except Exception as exc:
            raise AdapterError("construct", f"the factory of {self.name} raised {exc!r}") from None
        if not isinstance(adapter, RuntimeAdapter | AsyncRuntimeAdapter):
            raise AdapterError(
                "construct", f"factory of {self.name} returned {adapter!r}, not an adapter"
            )
        problems = contract_problems(adapter)
        if problems:
            raise AdapterError("construct", f"{self.name}: " + "; ".join(problems))
        return adapter

    def run(self, property_id: str, scenario: Scenario, setup: Setup | None = None) -> Any:
        """Run a scenario for ``property_id`` against a fresh instance of the runtime."""
        try:
            return run_scenario(self.new_adapter(), scenario, setup, self.timeout)
        except RuntimeFailure as failure:
            expect = self.expect(property_id)
            expect.step(failure.step, "the task's outcome", _Shown(failure.observed))
            raise PropertyViolation(expect.render()) from None
        except AdapterError as exc:
            raise self._once(property_id, exc) from None
        except HarnessError:
            raise

    def _once(self, property_id: str, exc: AdapterError) -> AdapterError:
        key = (self.name, exc.method)
        message = str(exc)
        with _FIRST_LOCK:
            first = _FIRST_ERRORS.setdefault(key, property_id)
        if first != property_id and "\n" in message:
            headline = message.split("\n", 1)[0]
            message = f"{headline} (traceback shown at {first})"
        return AdapterError(exc.method, message)


class _Shown:
    """An observation shown as text in a diff (what the runtime did instead)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text
