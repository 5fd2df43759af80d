"""A session ends whatever threads an adapter leaves behind (the exit guard)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

LEAKY = textwrap.dedent(
    '''
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from typing import Any, ClassVar

    from pytest_ctxprop import RuntimeAdapter, Traits

    FOREVER = threading.Event()  # never set: whatever waits on it is stuck for good


    class LeaksThreads(RuntimeAdapter):
        """Correct verdicts, sloppy lifecycle: a stuck pool worker and a non-daemon thread."""

        traits: ClassVar[Traits] = Traits()

        def start(self, *, workers, worker_init=None):
            self.pool = ThreadPoolExecutor(2)
            self.pool.submit(FOREVER.wait)  # stuck in a pool worker
            threading.Thread(target=FOREVER.wait, name="leaked-non-daemon", daemon=False).start()

        def stop(self):
            self.pool.shutdown(wait=False)

        def call(self, fn, /, *args, timeout):
            return fn(*args)
    '''
)


def test_leftover_threads_cannot_keep_the_process_alive(tmp_path: Path) -> None:
    (tmp_path / "leaky.py").write_text(LEAKY, encoding="utf-8")
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(tmp_path), "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "ctxprop", "-p", "no:cacheprovider", "-q",
         "--ctxprop-runtime=leaky:LeaksThreads", "-k", "F1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == pytest.ExitCode.OK, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert "leaked-non-daemon" in proc.stderr
    assert "exiting without waiting for them" in proc.stderr
