"""The plugin object registered once something is selected.

It adds the suite to the collection, parametrizes it, applies declared
deviations, turns reports into verdicts, keeps track of what was selected and
deselected, and prints and writes the matrix.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_ctxprop import _collection as coll
from pytest_ctxprop._report import VerdictStore, check_ref, verdict_of
from pytest_ctxprop._settings import Settings

_RUNTIME_MODULES = (
    "test_forward",
    "test_isolation",
    "test_backprop",
    "test_serialization",
    "test_token_transport",
)
_CONTEXTVARS_MODULES = ("test_tokens", "test_token_parity")
_SELECTION_KEY = "ctxprop_selection"


def _ref(item: pytest.Item) -> dict[str, str] | None:
    subject, pid = coll.subject_of(item), coll.property_of(item)
    if subject is None or pid is None:
        return None
    return check_ref(item.nodeid, subject.name, pid)


class ConformanceSession:
    """Everything the plugin does once something is selected."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        runtimes: list[Any],
        impls: list[Any],
        suite_args: list[str],
    ) -> None:
        self.config = config
        self.settings = settings
        self.runtimes = runtimes
        self.impls = impls
        self.timeout = settings.timeout
        self.suite_args = suite_args
        self.is_worker = hasattr(config, "workerinput")
        self.store = VerdictStore(
            runtimes,
            impls,
            {
                "args": [str(a) for a in config.invocation_params.args],
                "keyword": config.getoption("keyword") or None,
                "markexpr": config.getoption("markexpr") or None,
            },
        )
        if impls:
            from pytest_ctxprop._hypothesis_profiles import load_profile

            load_profile()
        if settings.report is not None and not self.is_worker:
            # stays behind, marked incomplete, if the session dies before its end
            self.store.write(settings.report, complete=False, exit_status=None)

    def pytest_report_header(self) -> str:
        return (
            f"ctxprop: {len(self.runtimes)} runtime(s), {len(self.impls)} contextvars "
            f"implementation(s); each check bounded by --ctxprop-timeout={self.timeout:g}s "
            "(and as much again for its clean-up)"
        )

    # -- collection ------------------------------------------------------------------

    def _suite_modules(self) -> list[str]:
        return [
            *(_RUNTIME_MODULES if self.runtimes else ()),
            *(_CONTEXTVARS_MODULES if self.impls else ()),
        ]

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        if isinstance(collector, pytest.Session) and report.passed:
            import ctxprop_conformance

            package = Path(ctxprop_conformance.__file__).parent
            report.result.extend(coll.suite_modules(package, self._suite_modules(), collector))
        return report

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "ctxprop_runtime" in metafunc.fixturenames:
            metafunc.parametrize(
                "ctxprop_runtime",
                self.runtimes,
                ids=[r.name for r in self.runtimes],
                indirect=True,
            )
        if "ctxprop_contextvars" in metafunc.fixturenames:
            metafunc.parametrize(
                "ctxprop_contextvars", self.impls, ids=[i.name for i in self.impls], indirect=True
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        from pytest_ctxprop._verdicts import PropertyViolation

        for item in items:
            subject, pid = coll.subject_of(item), coll.property_of(item)
            if subject is None or pid is None:
                continue
            if type(item) is pytest.Function:
                item.__class__ = coll.ConformanceFunction
            if pid in subject.deviations:
                item.add_marker(
                    pytest.mark.xfail(
                        reason=f"declared deviation: {subject.deviations[pid]}",
                        raises=PropertyViolation,
                        strict=True,
                    )
                )
        if self.suite_args:
            coll.select_by_args(self.config, items, self.suite_args)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.store.deselect(r for r in map(_ref, items) if r)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.store.expect(r for r in map(_ref, session.items) if r)
        if self.is_worker:
            self.config.workeroutput[_SELECTION_KEY] = {  # type: ignore[attr-defined]
                "selected": list(self.store.selected.values()),
                "deselected": list(self.store.deselected.values()),
            }

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist: the controller learns the selection from its workers."""
        output = getattr(node, "workeroutput", {}).get(_SELECTION_KEY)
        if output:
            self.store.expect(output["selected"])
            self.store.deselect(output["deselected"])

    # -- fixtures ----------------------------------------------------------------------

    @pytest.fixture
    def ctxprop_runtime(self, request: pytest.FixtureRequest) -> Any:
        """The selected runtime this conformance test runs against."""
        from ctxprop_conformance.subject import RuntimeUnderTest
        from pytest_ctxprop._verdicts import not_applicable

        selected = request.param
        if selected.unavailable:
            not_applicable(selected.unavailable)
        return RuntimeUnderTest(
            selected.name,
            selected.factory,
            selected.traits,
            timeout=self.timeout,
            sink=request.node.user_properties,
        )

    @pytest.fixture
    def ctxprop_contextvars(self, request: pytest.FixtureRequest) -> Any:
        """The selected contextvars implementation this parity test runs against."""
        return request.param

    # -- verdicts ------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        subject, pid = coll.subject_of(item), coll.property_of(item)
        if subject is not None and pid is not None:
            verdict = verdict_of(report, call)
            if verdict is not None and verdict["verdict"] == "fail":
                report.longrepr = verdict["reason"]  # the diff says it all; no traceback
            if verdict is not None:
                notes = [
                    n for key, v in report.user_properties if key == "ctxprop_notes" for n in v
                ]
                report.ctxprop_verdict = {  # type: ignore[attr-defined]
                    "subject": subject.name,
                    "property": pid,
                    "notes": notes,
                    **verdict,
                }
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "ctxprop_verdict", None)
        if data:
            self.store.record(data, report.nodeid, ran=report.when == "call")

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        from pytest_ctxprop._render import render_terminal

        if self.store.results or self.store.selected:
            terminalreporter.write_sep("=", "ctxprop conformance matrix")
            report = self.store.to_json(
                complete=exitstatus in (0, 1, 5), exit_status=int(exitstatus)
            )
            terminalreporter.write_line(render_terminal(report))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.settings.report is not None and not self.is_worker:
            self.store.finish(self.settings.report, exitstatus)
