"""Short names of the built-in runtimes (imported only when selected)."""

from __future__ import annotations

_STDLIB = "ctxprop_conformance.stdlib_runtimes"
_REFERENCE = "ctxprop_reference.adapters"

BUILTIN_RUNTIMES: dict[str, str] = {
    "stdlib.thread": f"{_STDLIB}:ThreadAdapter",
    "stdlib.thread_copy_context": f"{_STDLIB}:ThreadCopyContextAdapter",
    "stdlib.threadpool": f"{_STDLIB}:ThreadPoolAdapter",
    "stdlib.run_in_executor": f"{_STDLIB}:RunInExecutorAdapter",
    "stdlib.to_thread": f"{_STDLIB}:ToThreadAdapter",
    "stdlib.create_task": f"{_STDLIB}:CreateTaskAdapter",
    "stdlib.taskgroup": f"{_STDLIB}:TaskGroupAdapter",
    "stdlib.processpool": f"{_STDLIB}:ProcessPoolAdapter",
    "reference.thread": f"{_REFERENCE}:ThreadAdapter",
    "reference.threadpool": f"{_REFERENCE}:ThreadPoolAdapter",
    "reference.registered": f"{_REFERENCE}:RegisteredVarsPoolAdapter",
    "reference.asyncio": f"{_REFERENCE}:TaskAdapter",
    "reference.asyncio_offload": f"{_REFERENCE}:OffloadAdapter",
    "reference.asyncio_awaited": f"{_REFERENCE}:AwaitedCallAdapter",
    "reference.process": f"{_REFERENCE}:ProcessPoolForkserverAdapter",
    "reference.process_fork": f"{_REFERENCE}:ProcessPoolForkAdapter",
    "reference.redis_queue": "ctxprop_reference.redis_queue_adapter:RedisQueueAdapter",
}
