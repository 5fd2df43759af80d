"""Tasks the queue tests register; worker processes import this module by name."""

from __future__ import annotations

import os
import threading
from typing import Any

from ctxprop_conformance import gates, probes
from ctxprop_conformance.observations import describe
from ctxprop_reference.redis_queue_context import current_task_id, task_value


def fire_then_read(started: str, gate: str, names: list[str]) -> Any:
    """Tell the test the task runs (and where), wait for its gate, then read ``names``."""
    gates.fire_sync(started)
    gates.wait_sync(gate)
    return describe({"pid": os.getpid(), "seen": probes.observe_all(names)})


def helper_reads() -> Any:
    """F5: a sync helper with no parameters, called in the task and from a bare thread."""
    seen: dict[str, Any] = {}

    def helper(where: str) -> None:
        seen[where] = task_value(probes.V, probes.UNSET)
        seen[f"{where}, V.get()"] = probes.V.get(probes.UNSET)

    helper("task")
    thread = threading.Thread(target=helper, args=("bare thread",))  # no context copied
    thread.start()
    thread.join()
    seen["task id"] = current_task_id()
    return describe(seen)
