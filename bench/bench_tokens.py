"""Token benchmarks: reference set+reset cost against the stdlib, and TP throughput.

Run: ``python bench/bench_tokens.py``  (about 10-20 s; exit status 1 if the
reference costs more than 3x the stdlib).

* set+reset: ``tok = var.set(x); var.reset(tok)`` in a loop, stdlib and reference
  measured side by side, interleaved, best of several rounds (the least
  disturbed), so both see the same machine state.
* TP throughput: state-machine steps per second of the oracle machine (each
  step runs on the implementation and on the stdlib, then every var is read
  in every Context on both sides), no shrinking since nothing diverges.
"""

from __future__ import annotations

import contextvars
import sys
import time
import timeit

import ctxprop_reference.vars as reference
from ctxprop_conformance.test_token_parity import TokenParityMachine, parity_machine_for
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

TARGET_RATIO = 3.0
LOOPS = 200_000
ROUNDS = 7
TP_EXAMPLES = 150


def set_reset_cost(module: object) -> float:
    """Per-iteration cost (ns) of one set followed by its reset.

    The statement is compiled inline into timeit's loop, so no Python-level
    call wraps it: the cost is the implementation's, not the harness's.
    """
    var = module.ContextVar("bench")  # type: ignore[attr-defined]
    timer = timeit.Timer("reset(set_(1))", globals={"set_": var.set, "reset": var.reset})
    return timer.timeit(number=LOOPS) / LOOPS * 1e9


def compare_set_reset() -> float:
    stdlib_ns: list[float] = []
    reference_ns: list[float] = []
    for _ in range(ROUNDS):  # interleaved: drift hits both sides alike
        stdlib_ns.append(set_reset_cost(contextvars))
        reference_ns.append(set_reset_cost(reference))
    best_stdlib, best_reference = min(stdlib_ns), min(reference_ns)
    ratio = best_reference / best_stdlib
    print("set+reset, best of", ROUNDS, "rounds of", LOOPS)
    print(f"  stdlib contextvars      {best_stdlib:8.1f} ns")
    print(f"  ctxprop_reference.vars  {best_reference:8.1f} ns")
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"  ratio                   {ratio:8.2f}x  (target <= {TARGET_RATIO:.0f}x: {verdict})")
    return ratio


def tp_throughput(module: object, name: str) -> None:
    steps = 0

    class Counted(parity_machine_for(module)):  # type: ignore[misc]
        def teardown(self) -> None:
            nonlocal steps
            steps += len(self.script)

    budget = settings(
        max_examples=TP_EXAMPLES,
        stateful_step_count=30,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
    )
    started = time.perf_counter()
    run_state_machine_as_test(Counted, settings=budget)
    elapsed = time.perf_counter() - started
    print(
        f"  {name:<22}  {steps / elapsed:8.0f} steps/s"
        f"  ({steps} steps in {TP_EXAMPLES} sequences, {elapsed:.2f} s)"
    )


def main() -> int:
    print(f"Python {sys.version.split()[0]}")
    ratio = compare_set_reset()
    print("TP throughput (each step on the implementation and on the stdlib)")
    assert issubclass(parity_machine_for(reference), TokenParityMachine)
    tp_throughput(contextvars, "stdlib vs stdlib")
    tp_throughput(reference, "reference vs stdlib")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
