"""docs/properties.md, generated from the suite's own property table so it cannot drift.

``python -m ctxprop_conformance.properties_doc > docs/properties.md`` rewrites
it; a test fails when the checked-in page differs from :func:`render`.
"""

from __future__ import annotations

from ctxprop_conformance.properties import (
    CHECKED_AGAINST,
    NOT_CHECKED,
    PROPERTIES,
    SECTIONS,
    SPEC_VERSION,
)
from pytest_ctxprop.adapter import NEEDS_TRAVEL

_ANY = "every runtime"
#: when each property applies, beyond what its section needs (traits and capabilities)
APPLIES: dict[str, str] = {
    "F1": _ANY,
    "F2": "a separate submit (`n/a` for call-style adapters)",
    "F3": _ANY,
    "F4": _ANY,
    "F5": _ANY,
    "F6": "at least 2 workers; in-process runtimes, or `nested_runner()` where "
    "`crosses_process`; not a sync-driven runtime of coroutine tasks",
    "F7": "`reuses_workers`",
    "F8": "an async adapter of sync callables (`AsyncRuntimeAdapter`, `task_kind='sync'`)",
    "F9": "`vars_travel='registered'`",
    "I1": "`model='copy'`",
    "I2": "every runtime (call-style adapters: 50 concurrent callers instead of 50 submits)",
    "I3": "`reuses_workers`",
    "I4": _ANY,
    "I5": "a separate submit and `cancel()`",
    "I6": "a worker start (`Capabilities(worker_init=True)`, the default)",
    "B1": "`model='awaited-call'`",
    "B2": "`model='awaited-call'` and `declare_forward_only()`",
    "B3": "`model='awaited-call'`",
    "B4": "`model='awaited-call'`",
    "B5": "`model='awaited-call'`",
    "S1": "`crosses_process`",
    "S2": "`crosses_process`",
    "S3": "`crosses_process` and a hook to reach the stored snapshot",
    "S4": "`crosses_process` and a hook to reach the stored snapshot",
    "S5": "`crosses_process`",
    "S6": "`crosses_process`",
    "T11": "`token_transport`",
    "T12": "`token_transport`",
    "T13": "`token_transport`",
    "T14": "`token_transport` and `model='awaited-call'`",
    "T15": "`token_transport`",
    "T16": "`token_transport`",
}

VERDICT_RULES = """\
## Verdict rules

Each (runtime, property) gets one verdict:

| verdict | when |
| --- | --- |
| `pass` | the runtime did what the property says, at every step |
| `fail` | the runtime, given a task, did not deliver what the property says: a wrong value, the runtime raising, a dropped task, or one not finished within the bound (`TimeoutError` from `result`/`call`); the diff names the step, the probe and what was awaited |
| `deviation` | it failed, and the adapter declares that property a deviation, with a reason |
| `n/a` | a trait or capability makes the property meaningless (the "applies to" column); decided before anything waits |
| `inconclusive` | the harness could not decide (a server missing); never a pass |
| `error` | the adapter's lifecycle broke (`start`, `stop`, `register` raising), its own code raised or returned what the contract does not allow, a call hung past the bound, the suite broke, or a declared deviation passed |

The session fails on any `fail` or `error`. With `vars_travel='none'` every
property that needs vars to travel ({needs}) is a declared deviation.
Properties not checked by this suite version are listed below as such.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole page."""
    out = [
        "# The properties",
        "",
        f"Every property of the ctxprop specification (v{SPEC_VERSION}), by its stable ID.",
        "Generated from `ctxprop_conformance.properties` by",
        "`python -m ctxprop_conformance.properties_doc`: do not edit by hand.",
        "Traits and capabilities are declared by the adapter ([adapters.md](adapters.md)).",
        "",
        VERDICT_RULES.format(needs=", ".join(NEEDS_TRAVEL)),
    ]
    for sid, title in SECTIONS.items():
        rows = [p for p in PROPERTIES.values() if p.section == sid]
        out += [
            f"## {sid}: {title}",
            "",
            f"Checked against: {CHECKED_AGAINST[sid]}.",
            "",
            "| ID | Given | When | Then | applies to | checked | from |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for p in rows:
            checked = "not by this version" if p.id in NOT_CHECKED else "yes"
            applies = APPLIES.get(p.id, "the selected contextvars implementations"
                                  if sid == "T" else "pytest-ctxprop's fixtures")  # fmt: skip
            out.append(
                f"| {p.id} {_cell(p.title)} | {_cell(p.given)} | {_cell(p.when)} | "
                f"{_cell(p.then)} | {_cell(applies)} | {checked} | {_cell(p.origin)} |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
