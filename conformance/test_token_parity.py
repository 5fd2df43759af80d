"""SPEC TP: random token sequences, run on the implementation and the stdlib side by side.

A Hypothesis ``RuleBasedStateMachine`` creates vars (with and without
defaults) and Contexts (``copy_context()`` inside another Context, or empty),
and runs ``set``, ``reset`` (with fresh, used, other-var, other-Context tokens
and non-tokens), ``get`` (with and without a default), reads ``old_value`` and
``var`` and tries vanilla copies of tokens, each inside ``Context.run``.  After
every step it reads every var in every Context on both sides.  Any difference
in value, exception type or normalised message (see ``_token_oracle``) stops
the run with a divergence of its kind (``var.reset: stdlib raised
RuntimeError, implementation raised ValueError``); Hypothesis shrinks each kind
on its own, and the verdict is ``fail`` listing every kind found, each with
its shortest sequence printed as a Python script that runs against either module.

One deliberate exception: a copy attempt compares only "raised TypeError",
because T9 asks an implementation's refusal to name its supported path, which
the stdlib's message cannot.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import Phase, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from hypothesis.strategies import booleans

from pytest_ctxprop._verdicts import PropertyViolation

from . import strategies
from ._token_oracle import (
    RAISED,
    STDLIB,
    Labels,
    Outcome,
    divergence,
    divergences_in,
    implementation_module,
    implementation_name,
    missing_sentinel,
    parity_report,
)

CLAIM = (
    "random sequences of var creation, set, reset (fresh, used, foreign var, foreign "
    "Context, non-token), copy_context, Context.run and get give identical values, "
    "exception types and messages on the implementation and on the stdlib"
)


@dataclass(frozen=True)
class Twin:
    """One object of the sequence on both sides: ``v0``, ``c1``, ``t3``."""

    label: str
    impl: Any
    std: Any

    def __repr__(self) -> str:  # Hypothesis prints steps with this
        return self.label


@dataclass(frozen=True, repr=False)
class TokenTwin(Twin):
    """A token on both sides, with the var and Context that minted it."""

    var: Twin
    context: Twin


class TokenParityMachine(RuleBasedStateMachine):
    """The oracle machine; :func:`parity_machine_for` binds it to an implementation."""

    implementation: ClassVar[Any] = STDLIB

    var_twins = Bundle("vars")
    context_twins = Bundle("contexts")
    token_twins = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.script: list[str] = []
        self.all_vars: list[Twin] = []
        self.all_contexts: list[Twin] = []
        self.token_count = 0
        self.missing = (missing_sentinel(self.implementation), contextvars.Token.MISSING)

    # -- observing both sides ----------------------------------------------------------

    def labels(self, *twins: Twin) -> tuple[Labels, Labels]:
        """Labels for the twins in play (all vars too, to recognise ``tok.var``)."""
        in_play = {t.label: t for t in (*self.all_vars, *twins)}
        impl = Labels({k: t.impl for k, t in in_play.items()}, self.missing[0])
        std = Labels({k: t.std for k, t in in_play.items()}, self.missing[1])
        return impl, std

    def step(
        self,
        code: str,
        call: Callable[[Any], object],
        *twins: Twin,
        operation: str,
        result_label: str | None = None,
    ) -> tuple[object, object]:
        """Run ``call(side)`` on both sides, record ``code``, fail on any difference.

        ``operation`` names the API the step exercises (its divergences' kind);
        ``result_label`` names what the call returns (a new token), so that its
        repr is not compared.
        """
        self.script.append(code)
        impl_labels, std_labels = self.labels(*twins)
        impl_result, impl_outcome = impl_labels.outcome_of(lambda: call("impl"), result_label)
        std_result, std_outcome = std_labels.outcome_of(lambda: call("std"), result_label)
        if std_outcome != impl_outcome:
            raise divergence(operation, list(self.script), std_outcome, impl_outcome)
        return impl_result, std_result

    # -- rules ---------------------------------------------------------------------------

    def module(self, side: str) -> Any:
        return self.implementation if side == "impl" else STDLIB

    def create(
        self, label: str, code: str, make: Callable[[Any], object], *twins: Twin, operation: str
    ) -> Twin:
        """A new var or Context on both sides; failing to create one is a divergence too."""
        impl, std = self.step(
            f"{label} = {code}", make, *twins, operation=operation, result_label=label
        )
        return Twin(label, impl, std)

    @initialize(target=context_twins)
    def first_context(self) -> Twin:
        twin = self.create(
            "c0",
            "cv.copy_context()",
            lambda side: self.module(side).copy_context(),
            operation="cv.copy_context",
        )
        self.all_contexts.append(twin)
        return twin

    @precondition(lambda self: len(self.all_vars) < strategies.MAX_VARS)
    @rule(target=var_twins, with_default=booleans(), default=strategies.values)
    def new_var(self, with_default: bool, default: object) -> Twin:
        label = f"v{len(self.all_vars)}"
        kwargs = {"default": default} if with_default else {}
        args = f"{label!r}, default={default!r}" if with_default else repr(label)
        twin = self.create(
            label,
            f"cv.ContextVar({args})",
            lambda side: self.module(side).ContextVar(label, **kwargs),
            operation="cv.ContextVar",
        )
        self.all_vars.append(twin)
        return twin

    @precondition(lambda self: len(self.all_contexts) < strategies.MAX_CONTEXTS)
    @rule(target=context_twins, parent=context_twins, empty=booleans())
    def new_context(self, parent: Twin, empty: bool) -> Twin:
        label = f"c{len(self.all_contexts)}"
        if empty:
            twin = self.create(
                label,
                "cv.Context()",
                lambda side: self.module(side).Context(),
                operation="cv.Context",
            )
        else:
            twin = self.create(
                label,
                f"{parent.label}.run(cv.copy_context)",
                lambda side: getattr(parent, side).run(self.module(side).copy_context),
                parent,
                operation="cv.copy_context",
            )
        self.all_contexts.append(twin)
        return twin

    @rule(target=token_twins, var=var_twins, context=context_twins, value=strategies.values)
    def set(self, var: Twin, context: Twin, value: object) -> Any:
        label = f"t{self.token_count}"
        impl, std = self.step(
            f"{label} = {context.label}.run({var.label}.set, {value!r})",
            lambda side: getattr(context, side).run(getattr(var, side).set, value),
            var,
            context,
            operation="var.set",
            result_label=label,
        )
        if impl is RAISED:  # raised the same on both sides: no token to keep
            return multiple()
        self.token_count += 1
        token = TokenTwin(label, impl, std, var, context)
        self.check_new_token(token)
        return token

    @rule(var=var_twins, context=context_twins, token=token_twins)
    def reset(self, var: Twin, context: Twin, token: Twin) -> None:
        self.step(
            f"{context.label}.run({var.label}.reset, {token.label})",
            lambda side: getattr(context, side).run(getattr(var, side).reset, getattr(token, side)),
            var,
            context,
            token,
            operation="var.reset",
        )

    @rule(token=token_twins)
    def reset_as_minted(self, token: TokenTwin) -> None:
        """With its own var, in its own Context: succeeds once, then "used"."""
        self.reset(token.var, token.context, token)

    @rule(token=token_twins, var=var_twins)
    def reset_in_minting_context(self, token: TokenTwin, var: Twin) -> None:
        """Any var, in the token's own Context: "used" versus "other var" ordering."""
        self.reset(var, token.context, token)

    @rule(var=var_twins, context=context_twins, argument=strategies.non_tokens)
    def reset_with_non_token(self, var: Twin, context: Twin, argument: object) -> None:
        self.step(
            f"{context.label}.run({var.label}.reset, {argument!r})",
            lambda side: getattr(context, side).run(getattr(var, side).reset, argument),
            var,
            context,
            operation="var.reset",
        )

    @rule(var=var_twins, context=context_twins, other=var_twins | context_twins)
    def reset_with_var_or_context(self, var: Twin, context: Twin, other: Twin) -> None:
        self.reset(var, context, other)

    @rule(var=var_twins, context=context_twins, default=strategies.get_defaults)
    def get(self, var: Twin, context: Twin, default: object) -> None:
        args = () if default == strategies.NO_DEFAULT else (default,)
        shown = "".join(f", {a!r}" for a in args)
        self.step(
            f"{context.label}.run({var.label}.get{shown})",
            lambda side: getattr(context, side).run(getattr(var, side).get, *args),
            var,
            context,
            operation="var.get",
        )

    @rule(token=token_twins)
    def inspect_token(self, token: Twin) -> None:
        self.read_token(token, as_steps=True)

    def check_new_token(self, token: TokenTwin) -> None:
        """``var`` and ``old_value`` of a token just minted: checks, not script steps."""
        self.read_token(token, as_steps=False)

    def read_token(self, token: Twin, *, as_steps: bool) -> None:
        for attribute in ("var", "old_value"):
            code, operation = f"{token.label}.{attribute}", f"token.{attribute}"
            self.step(code, _attribute_of(token, attribute), token, operation=operation)
            if not as_steps:
                self.script.pop()

    @rule(token=token_twins, way=strategies.copy_ways)
    def copy_token(self, token: Twin, way: str) -> None:
        """Vanilla copies must raise TypeError on both sides; messages differ by design."""
        copier = strategies.copier(way)
        self.script.append(f"{way}({token.label})")
        outcomes = []
        for side in ("std", "impl"):
            try:
                copier(getattr(token, side))
            except Exception as error:
                outcomes.append(Outcome(type(error), "(message not compared, see T9)"))
            else:
                outcomes.append(Outcome(None, "a copy of the token"))
        expected, observed = outcomes
        if expected != observed:
            raise divergence("copy", list(self.script), expected, observed)

    @invariant()
    def every_var_agrees_in_every_context(self) -> None:
        """Catches a step that changed a value it should not have, in any Context.

        Reads ``var.get(UNSET)`` everywhere on both sides; only on a difference
        does it redo the reads one by one, to report the first that differs.
        """
        if _same_reads(self.read_everything("impl"), self.read_everything("std")):
            return
        for context in self.all_contexts:
            for var in self.all_vars:
                self.step(
                    f"{context.label}.run({var.label}.get, {UNSET!r})  # read after every step",
                    _read_with_unset(context, var),
                    var,
                    context,
                    operation="read after every step",
                )
                self.script.pop()  # reads are checks, not steps of the sequence

    def read_everything(self, side: str) -> list[object]:
        reads: list[object] = []
        for context in self.all_contexts:
            run = getattr(context, side).run
            for var in self.all_vars:
                try:
                    reads.append(run(getattr(var, side).get, UNSET))
                except Exception as error:
                    reads.append(_Raised(type(error)))
        return reads


#: The default passed to ``get`` by the after-every-step reads: tells "unset"
#: from any value (an explicit default wins over the var's own default).
UNSET = "(unset)"


@dataclass(frozen=True)
class _Raised:
    exception: type[BaseException]


def _same_reads(left: list[object], right: list[object]) -> bool:
    return len(left) == len(right) and all(
        a is b or (type(a) is type(b) and a == b) for a, b in zip(left, right, strict=True)
    )


def _attribute_of(token: Twin, attribute: str) -> Callable[[str], object]:
    return lambda side: getattr(getattr(token, side), attribute)


def _read_with_unset(context: Twin, var: Twin) -> Callable[[str], object]:
    return lambda side: getattr(context, side).run(getattr(var, side).get, UNSET)


def parity_machine_for(module: Any) -> type[TokenParityMachine]:
    """The TP machine bound to one contextvars-like module."""
    name = getattr(module, "__name__", type(module).__name__)
    return type(f"TokenParity[{name}]", (TokenParityMachine,), {"implementation": module})


def run_parity_machine(selected: Any, hypothesis_settings: settings | None = None) -> None:
    """Run TP for a selected implementation; divergences become one PropertyViolation.

    ``hypothesis_settings`` defaults to the active profile (the plugin loads
    ``ctxprop-ci`` / ``ctxprop-dev`` unless the project has its own); only
    ``report_multiple_bugs``, ``deadline`` and the explain phase are overridden.
    Hypothesis raises one divergence, or an ExceptionGroup of several kinds;
    either way the PropertyViolation lists every kind with its reproducer.  A
    group holding anything else (the harness broke) or a flaky failure is
    raised as it is: that is an error, not a verdict on the implementation.
    """
    machine = parity_machine_for(implementation_module(selected))
    parent = hypothesis_settings or settings()
    chosen = settings(
        parent=parent,
        # every kind of divergence, each shrunk on its own: one cannot mask another
        # (Hypothesis keeps looking after the first only with the shrink phase on)
        report_multiple_bugs=True,
        deadline=None,  # TP judges parity, not speed: a slow implementation is no divergence
        # the explain phase triples the time to a verdict and adds nothing the
        # reproducer does not already say
        phases=[phase for phase in parent.phases if phase is not Phase.explain],
    )
    try:
        run_state_machine_as_test(machine, settings=chosen)  # type: ignore[no-untyped-call]
    except Exception as error:
        found = divergences_in(error)
        if not found:
            raise
        raise PropertyViolation(
            parity_report(implementation_name(selected), CLAIM, found)
        ) from None


def test_TP_stdlib_oracle(ctxprop_contextvars: Any) -> None:
    """TP: no sequence of token operations tells the implementation from the stdlib."""
    run_parity_machine(ctxprop_contextvars)
