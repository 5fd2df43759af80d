"""Deliberately broken runtimes: the proof that the suite catches bugs (issue 2, item 6).

Each runtime carries one realistic bug and must fail exactly the property it
breaks, every other property of sections F, I and B being pass or n/a for it.
:data:`REGISTRY` maps a property ID to the runtime that breaks it, as a
``pkg.mod:factory`` spec for ``--ctxprop-runtime``.
"""

from __future__ import annotations

_F = "tests.broken_runtimes.forward"
_I = "tests.broken_runtimes.isolation"
_B = "tests.broken_runtimes.backprop"
_S = "tests.broken_runtimes.serialization"
_T = "tests.broken_runtimes.tokens"

REGISTRY: dict[str, str] = {
    "F1": f"{_F}:JsonWireDropsContext",
    "F2": f"{_F}:LateCaptureOnWait",
    "F3": f"{_F}:DefaultsShippedAsNone",
    "F4": f"{_F}:JsonSnapshotValues",
    "F5": f"{_F}:ZeroArgFastPath",
    "F6": f"{_F}:NestedReusesParentSnapshot",
    "F7": f"{_F}:CreatorContextWins",
    "F8": f"{_F}:ThreadLocalSnapshot",
    "F9": f"{_F}:ShipsUnregisteredVars",
    "I1": f"{_I}:MergesBackOnResult",
    "I2": f"{_I}:SnapshotCachedByKeys",
    "I3": f"{_I}:WorkerContextReusedUntilFailure",
    "I4": f"{_I}:CleanupSkippedOnError",
    "I5": f"{_I}:CancelSkipsReset",
    "I6": f"{_I}:InitializerContextWins",
    "B1": f"{_B}:HomeThreadMergeQueued",
    "B2": f"{_B}:ForwardOnlyByName",
    "B3": f"{_B}:SingleInFlightSlot",
    "B4": f"{_B}:ChangeFeedDropsResets",
    "B5": f"{_B}:FailedCallClearsVars",
    "S1": f"{_S}:StringifiesUnknownTypes",
    "S2": f"{_S}:DropsUnserializableSilently",
    "S3": f"{_S}:CrashesOnMissingSnapshot",
    "S4": f"{_S}:UnpicklesWhatItFinds",
    "S5": f"{_S}:ShipsDefaults",
    "S6": f"{_S}:SkipsVarsItCannotImport",
    "T11": f"{_T}:ForgetsUsedTokens",
    "T12": f"{_T}:DropsForeignTokensOnReturn",
    "T13": f"{_T}:BindsEveryToken",
    "T14": f"{_T}:ReturnedTokensStayInTheTask",
    "T15": f"{_T}:ExceptionsKeepOnlyTheMessage",
    "T16": f"{_T}:UnboundedUsedTokenLedger",
}

_C = "tests.broken_runtimes.contract"

#: contract v2 cases: name -> (spec, the verdicts that are not pass-or-n/a, and the n/a
#: verdicts that must be decided before any waiting)
CONTRACT_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "blocking_call": (f"{_C}:BlockingCallRuntime", {"F2": "n/a", "I5": "n/a"}),
    "awaited_call_only": (f"{_C}:AwaitedCallOnly", {"B2": "fail", "F2": "n/a", "I5": "n/a"}),
    "shared_context": (f"{_C}:SharedContextRunner", {"I2": "fail"}),
    "json_broker": (f"{_C}:JsonBroker", {"F6": "pass", "F4": "pass"}),
    "by_reference": (f"{_C}:PickledValuesByReference", {"F4": "pass"}),
    "one_worker": (f"{_C}:OneWorkerPool", {"F6": "n/a"}),
    "lazy_no_cancel": (f"{_C}:LazyNoCancel", {"I5": "n/a"}),
    "stored_snapshot": (f"{_S}:StoredSnapshotPool", {"S3": "pass", "S4": "pass"}),
    "process_spawn": ("ctxprop_reference.adapters:ProcessPoolSpawnAdapter", {"S1": "pass"}),
    "forwards_nothing": (
        f"{_C}:ForwardsNothing",
        dict.fromkeys(["F1", "F2", "F4", "F5", "F6", "F7", "I2", "I6"], "deviation"),
    ),
}
