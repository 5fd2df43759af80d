"""The stdlib as oracle: observe a call on both sides, normalise, compare.

Expectations come from the running interpreter's :mod:`contextvars`, never
from strings written down here, because the stdlib changes with the
interpreter.  To compare an implementation with it, each call is reduced to an
:class:`Outcome` (exception type and message, or returned value) after two
normalisations, documented in docs/tokens.md ("Comparing outcomes"):

1. **Objects in play are labelled.**  Where a message or value shows ``repr()``
   of a var, token or Context taking part in the call, that text becomes
   ``<label>``: the stdlib's reprs on the stdlib side, the implementation's
   reprs of the counterparts on the other.  So an implementation may spell its
   reprs its own way (class name, extra fields), but the message *template*
   (``<tok> has already been used once``) must match exactly, and it must be
   the right object's repr.
2. **Memory addresses are elided** (``0x7f3a...`` -> ``0x…``), for what is left.

Exception types are compared exactly: ``RuntimeError`` is not a subclass of it.
"""

from __future__ import annotations

import contextvars
import functools
import platform
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from hypothesis.errors import Flaky

from pytest_ctxprop._verdicts import PropertyViolation

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:  # Hypothesis depends on the backport there
    from exceptiongroup import BaseExceptionGroup

STDLIB: Any = contextvars
#: The result of a call that raised (its outcome says what).
RAISED: Final = object()
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def elide_addresses(text: str) -> str:
    """Replace memory addresses, the only part of a stdlib message that varies per run."""
    return _ADDRESS.sub("0x…", text)


@dataclass(frozen=True)
class Label:
    """Stands for an object in play (``<tok>``) in normalised values and messages."""

    name: str

    def __repr__(self) -> str:
        return f"<{self.name}>"


_PLAIN_TYPES = frozenset({type(None), bool, int, float, str, bytes, Label})


@dataclass(frozen=True)
class Outcome:
    """What one call did, in a form comparable across implementations."""

    exception: type[BaseException] | None
    text: str

    def __str__(self) -> str:
        if self.exception is None:
            return f"returned {self.text}"
        return f"raised {self.exception.__qualname__}: {self.text}"

    @property
    def kind(self) -> str:
        """``returned`` or ``raised <Type>``: the outcome without its value or message."""
        return "returned" if self.exception is None else f"raised {self.exception.__qualname__}"


class Labels:
    """The objects in play on one side, by label; turns raw results into Outcomes."""

    def __init__(self, objects: Mapping[str, object], missing: object = None) -> None:
        self._objects = dict(objects)
        self._missing = missing

    def add(self, name: str, obj: object) -> None:
        """Label one more object, e.g. a token known only once a block has run."""
        self._objects[name] = obj

    def value(self, value: object) -> object:
        """The value with objects in play (and the MISSING sentinel) as Labels."""
        if self._missing is not None and value is self._missing:
            return Label("MISSING")
        for name, obj in self._objects.items():
            if value is obj:
                return Label(name)
        return value

    def message(self, text: str, names: tuple[str, ...] = ()) -> str:
        """``text`` with reprs of objects in play labelled, then addresses elided.

        ``names`` limits the labelling to the objects a step involves: an
        implementation whose reprs do not tell two tokens apart is still judged
        on whether its message shows the token the step is about.
        """
        involved = (
            {n: self._objects[n] for n in names if n in self._objects} if names else self._objects
        )
        reprs = sorted(
            ((safe_repr(obj), name) for name, obj in involved.items()),
            key=lambda pair: -len(pair[0]),
        )
        for shown, name in reprs:
            text = text.replace(shown, f"<{name}>")
        return elide_addresses(text)

    def returned(self, value: object) -> Outcome:
        shown = self.value(value)
        if type(shown) in _PLAIN_TYPES:  # no repr of anything in it: nothing to label
            return Outcome(None, repr(shown))
        return Outcome(None, self.message(safe_repr(shown)))

    def raised(self, error: BaseException, names: tuple[str, ...] = ()) -> Outcome:
        return Outcome(type(error), self.message(safe_str(error), names))

    def outcome_of(
        self, call: Callable[[], object], result_label: str | None = None
    ) -> tuple[object, Outcome]:
        """``(result, outcome)`` of ``call`` (``RAISED`` as the result if it raised).

        ``result_label`` labels what it returns (a new token) before the outcome
        is taken, so that its repr is not compared.
        """
        try:
            result = call()
        except Exception as error:
            return RAISED, self.raised(error)
        if result_label is not None:
            self.add(result_label, result)
        return result, self.returned(result)

    def observe(self, call: Callable[[], object], *names: str) -> Outcome:
        """Run ``call``; whatever it returns or raises (short of exiting) is the outcome.

        ``names``: the labelled objects the call involves (default: all).
        """
        try:
            result = call()
        except Exception as error:
            return self.raised(error, names)
        return self.returned(result)


def safe_repr(obj: object) -> str:
    try:
        return repr(obj)
    except Exception as error:
        return f"<repr() raised {type(error).__qualname__}>"


def safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except Exception as failure:
        return f"<str() raised {type(failure).__qualname__}>"


def implementation_module(selected: Any) -> Any:
    """The object exposing ContextVar/Token/Context/copy_context for a fixture value."""
    return getattr(selected, "module", selected)


def implementation_name(selected: Any) -> str:
    name = getattr(selected, "name", None) or getattr(selected, "__name__", None)
    return str(name) if name else safe_repr(selected)


def missing_sentinel(module: Any) -> object:
    """The implementation's "no previous value" marker: ``Token.MISSING`` or ``MISSING``."""
    sentinel = getattr(getattr(module, "Token", None), "MISSING", None)
    return sentinel if sentinel is not None else getattr(module, "MISSING", None)


def stdlib_description() -> str:
    return f"stdlib contextvars, {platform.python_implementation()} {platform.python_version()}"


Observations = dict[str, Outcome]
Scenario = Callable[[Any], Observations]


def run_scenario(module: Any, scenario: Scenario) -> Observations:
    """Run ``scenario(module)`` in a fresh copy of the module's current Context."""
    return module.copy_context().run(scenario, module)  # type: ignore[no-any-return]


def check_parity(property_id: str, claim: str, scenario: Scenario, selected: Any) -> None:
    """Fail ``property_id`` unless the implementation observes what the stdlib observes.

    ``scenario(cv)`` drives the module ``cv`` and returns its observations by
    step.  The stdlib run must succeed (else the harness is broken: error); on
    the implementation, a step that escapes the scenario is a violation too.
    """
    expected = run_scenario(STDLIB, scenario)
    module = implementation_module(selected)
    try:
        observed = run_scenario(module, scenario)
    except Exception as error:
        raise violation(
            property_id,
            claim,
            selected,
            step="setting up the scenario",
            expected="no error (the stdlib ran it)",
            observed=f"raised {type(error).__qualname__}: {elide_addresses(safe_str(error))}",
        ) from error
    for step, outcome in expected.items():
        seen = observed.get(step)
        if seen != outcome:
            raise violation(
                property_id,
                claim,
                selected,
                step=step,
                expected=str(outcome),
                observed="(not observed)" if seen is None else str(seen),
            )


def violation(
    property_id: str, claim: str, selected: Any, *, step: str, expected: str, observed: str
) -> PropertyViolation:
    """A diff-like PropertyViolation: the property, the step, expected vs observed."""
    return PropertyViolation(
        f"{property_id} violated by {implementation_name(selected)}: {claim}\n"
        f"  step:     {step}\n"
        f"  expected: {expected}   [{stdlib_description()}]\n"
        f"  observed: {observed}"
    )


# -- TP's divergences ------------------------------------------------------------------


class ParityDivergence(Exception):
    """TP: the implementation and the stdlib disagreed at one step of a sequence.

    Raised only as the subclass of its kind (:func:`divergence`): Hypothesis
    tells failures apart by exception type and raising line (its
    ``InterestingOrigin``), and every divergence is raised from the same line,
    so the type is what keeps kinds apart.  Each kind is then searched for,
    shrunk and reported on its own, and one cannot mask another.
    """

    kind: ClassVar[str] = "(any)"

    def __init__(self, script: list[str], expected: Outcome, observed: Outcome) -> None:
        super().__init__(f"{self.kind}: {script[-1]}")
        self.script = script
        self.expected = expected
        self.observed = observed

    def reproducer(self) -> str:
        """The script, ending at the diverging step, and both outcomes."""
        *before, step = self.script
        lines = "".join(f"    {line}\n" for line in before)
        return (
            f"    import contextvars as cv, copy, pickle, cloudpickle\n{lines}"
            f"    {step}  # <- diverges here\n"
            f"  expected: {self.expected}   [{stdlib_description()}]\n"
            f"  observed: {self.observed}"
        )


@functools.cache
def divergence_class(kind: str) -> type[ParityDivergence]:
    """The one class of a kind (the same object every time, as Hypothesis compares types)."""
    return type("ParityDivergence", (ParityDivergence,), {"kind": kind, "__module__": __name__})


def divergence(
    operation: str, script: list[str], expected: Outcome, observed: Outcome
) -> ParityDivergence:
    """A divergence of the kind "``operation``: what each side did, less values and messages".

    So a wrong message and a wrong exception type at ``var.reset`` are two
    kinds, and so are a wrong message there and a wrong refusal at ``copy``.
    """
    kind = f"{operation}: stdlib {expected.kind}, implementation {observed.kind}"
    return divergence_class(kind)(script, expected, observed)


def divergences_in(error: BaseException) -> list[ParityDivergence]:
    """The divergences Hypothesis raised: one, or a group of several kinds.

    Empty when anything else is in it (the harness broke) or the failure is
    flaky: those are errors, not a verdict on the implementation.
    """
    if isinstance(error, ParityDivergence):
        return [error]
    if not isinstance(error, BaseExceptionGroup) or isinstance(error, Flaky):
        return []
    found: list[ParityDivergence] = []
    for each in error.exceptions:
        inner = divergences_in(each)
        if not inner:
            return []
        found.extend(inner)
    return found


def parity_report(implementation: str, claim: str, found: Sequence[ParityDivergence]) -> str:
    """TP's fail reason: every kind found (shortest first), each with its reproducer."""
    head = f"TP violated by {implementation}: {claim}\n"
    replay = "import your implementation as cv to replay"
    if len(found) == 1:
        return f"{head}  shortest diverging sequence ({replay}):\n{found[0].reproducer()}"
    parts = [f"{head}  {len(found)} distinct divergences, each shrunk on its own ({replay}):"]
    ordered = sorted(found, key=lambda each: (len(each.script), each.kind))
    for number, each in enumerate(ordered, 1):
        parts += [f"  divergence {number} of {len(found)}, {each.kind}:", each.reproducer()]
    return "\n".join(parts)
