"""Token parity through the plugin: ``pytest -p ctxprop --ctxprop-contextvars=...``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BROKEN = Path(__file__).parents[1] / "tokens" / "broken_contextvars.py"
T_LOCAL = [f"T{i}" for i in range(1, 11)] + ["TP"]


@pytest.fixture
def broken_impls(pytester: pytest.Pytester) -> dict[str, str]:
    """Importable broken implementations in the scratch project: spec -> property it breaks."""
    pytester.makepyfile(broken_contextvars=BROKEN.read_text(encoding="utf-8"))
    sys.path.insert(0, str(BROKEN.parent))
    try:
        import broken_contextvars as broken
    finally:
        sys.path.remove(str(BROKEN.parent))
    lines = ["import broken_contextvars as b"]
    specs = {}
    for flaw, prop in broken.CAUGHT_BY.items():
        attr = flaw.replace("-", "_")
        lines.append(f"{attr} = b.make({flaw!r})")
        specs[f"impls:{attr}"] = prop
    lines.append("deviant = b.make('wrong-used-message')")
    lines.append("deviant.__ctxprop_deviations__ = {'T3': 'our message says it differently'}")
    pytester.makepyfile(impls="\n".join(lines))
    return specs


def test_stdlib_and_reference_pass_every_token_property(run_suite) -> None:
    run = run_suite(
        "-n",
        "2",
        "--ctxprop-contextvars=contextvars",
        "--ctxprop-contextvars=ctxprop_reference.vars",
    )
    assert run.ret == pytest.ExitCode.OK
    t10 = "pass" if hasattr(__import__("contextvars").Token, "__enter__") else "n/a"
    for impl in ("contextvars", "ctxprop_reference.vars"):
        seen = run.verdicts(impl)
        assert sorted(seen) == sorted(T_LOCAL)
        assert seen.pop("T10") == t10
        assert set(seen.values()) == {"pass"}, (impl, seen)


def test_each_broken_implementation_fails_its_property_and_tp(broken_impls, run_suite) -> None:
    run = run_suite("-n", "2", *(f"--ctxprop-contextvars={spec}" for spec in broken_impls))
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    for spec, prop in broken_impls.items():
        seen = run.verdicts(spec)
        assert seen[prop] == "fail", (spec, seen)
        assert seen["TP"] == "fail", (spec, seen)
    reason = run.reason("impls:wrong_used_message", "TP")
    assert "has already been used once" in reason  # the divergence is shown


def test_a_declared_token_deviation_is_reported_as_such(broken_impls, run_suite) -> None:
    run = run_suite("--ctxprop-contextvars=impls:deviant", "-k", "test_T3_")
    assert run.ret == pytest.ExitCode.OK
    assert run.verdicts("impls:deviant") == {"T3": "deviation"}
