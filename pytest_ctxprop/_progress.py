"""``--ctxprop-progress``: a line as each check starts and as each runtime finishes.

For long runs (and for ``ctxprop matrix``, which reads these lines to show
progress and to say what hung): checks are grouped by runtime, so a runtime
finishes as soon as its own checks have run.  Line formats are stable:

    ctxprop: start NODEID
    ctxprop: done RUNTIME: 12 pass, 8 fail
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from pytest_ctxprop import _collection as coll

START = "ctxprop: start "
DONE = "ctxprop: done "


class Progress:
    def __init__(self, config: pytest.Config, store: Any) -> None:
        self.config = config
        self.store = store
        self.left: Counter[str] = Counter()
        self.subject_of: dict[str, str] = {}

    def _write(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            if reporter._tw.width_of_current_line:  # after a result letter (-q mode)
                reporter.write("\n")
            reporter.write_line(line, flush=True)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        order: dict[str, int] = {}
        for item in items:
            subject = coll.subject_of(item)
            if subject is not None:
                order.setdefault(subject.name, len(order))
        # stable: within a runtime, the suite's own order
        items.sort(key=lambda i: order.get(getattr(coll.subject_of(i), "name", ""), -1))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            subject = coll.subject_of(item)
            if subject is not None:
                self.subject_of[item.nodeid] = subject.name
                self.left[subject.name] += 1

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if nodeid in self.subject_of:
            self._write(f"{START}{nodeid}")

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        name = self.subject_of.get(nodeid)
        if name is None:
            return
        self.left[name] -= 1
        if self.left[name] == 0:
            counts = Counter(
                r["verdict"] for (subject, _), r in self.store.results.items() if subject == name
            )
            text = ", ".join(f"{n} {v}" for v, n in counts.items()) or "no verdicts"
            self._write(f"{DONE}{name}: {text}")
