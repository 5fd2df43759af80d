"""Expectations that read like a diff when a runtime breaks a property.

A scenario records each step as (what, expected, observed); :meth:`Expect.verify`
raises :class:`PropertyViolation` showing the property's text, every step with
its expected and observed value, and the runtime.  Notes carry what SPEC says
is "reported, not judged" (I6, B5) into the verdict's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ctxprop_conformance.properties import Property
from pytest_ctxprop._verdicts import PropertyViolation


@dataclass
class _Step:
    what: str
    expected: Any
    observed: Any

    @property
    def ok(self) -> bool:
        return _same(self.expected, self.observed)


def _same(expected: Any, observed: Any) -> bool:
    """Equal and of the same type, all the way down through containers."""
    if type(expected) is not type(observed):
        return False
    if isinstance(expected, dict):
        return expected.keys() == observed.keys() and all(
            _same(v, observed[k]) for k, v in expected.items()
        )
    if isinstance(expected, list | tuple):
        return len(expected) == len(observed) and all(map(_same, expected, observed))
    return bool(expected == observed)


@dataclass
class Expect:
    """The steps of one property check against one runtime."""

    prop: Property
    runtime: str
    steps: list[_Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def step(self, what: str, expected: Any, observed: Any) -> bool:
        """Record a step; equal means equal value *and* same type."""
        s = _Step(what, expected, observed)
        self.steps.append(s)
        return s.ok

    def note(self, text: str) -> None:
        self.notes.append(text)

    def verify(self) -> None:
        if not self.steps:
            raise RuntimeError(f"{self.prop.id}: a check recorded no step")
        if all(s.ok for s in self.steps):
            return
        raise PropertyViolation(self.render())

    def render(self) -> str:
        def show(value: Any, limit: int = 60) -> str:
            text = repr(value)
            return text if len(text) <= limit else text[: limit - 3] + "..."

        shown = self.steps
        if len(shown) > 12:  # many alike steps: show the broken ones only
            shown = [s for s in self.steps if not s.ok]
        width = max(len(s.what) for s in shown)
        rows = [
            f"  {'ok' if s.ok else 'XX'}  {s.what:<{width}}  expected {show(s.expected)}"
            + ("" if s.ok else f"\n      {'':<{width}}  observed {show(s.observed, 400)}")
            for s in shown
        ]
        if len(shown) < len(self.steps):
            rows.append(f"  ({len(self.steps) - len(shown)} more steps as expected)")
        body = "\n".join(rows)
        indented = self.prop.describe().replace("\n", "\n  ")
        notes = "".join(f"\n  note: {n}" for n in self.notes)
        return (
            f"{self.prop.id} {self.prop.title} -- runtime {self.runtime}\n"
            f"  {indented}\n{body}{notes}"
        )
