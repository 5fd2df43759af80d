"""Imported last by the fork server (``fork_server.PRELOAD``): ``gc.freeze()`` what it preloaded.

A worker forked from the server shares the server's memory copy-on-write.  The
first full garbage collection in a worker (and in every process a worker forks,
such as celery's pool) would write to the GC header of every preloaded object,
copying most of that memory: measured at about 0.2 s per celery pool process.
Frozen objects are left out of every later collection, as the ``gc`` docs advise
before ``fork()``; what a task creates is collected as usual.
"""

from __future__ import annotations

import gc

gc.freeze()
