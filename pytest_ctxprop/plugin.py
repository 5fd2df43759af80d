"""The pytest plugin (entry point ``ctxprop``): options, selection, and nothing else
until a runtime or a contextvars implementation is selected.

Selecting one registers a :class:`_ConformanceSession`, which adds the suite to
the collection, parametrizes it, applies declared deviations, turns reports into
verdicts and prints and writes the matrix.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_ctxprop import _hookspecs

pytest_plugins = ["pytest_ctxprop.harness.plugin"]

_RUNTIME_MODULES = ("test_forward", "test_isolation", "test_backprop")
_CONTEXTVARS_MODULES = ("test_tokens", "test_token_parity")
_PROPERTY_IN_NAME = re.compile(r"^test_([A-Z]+[0-9]*)_")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(_hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctxprop", "contextvars propagation conformance (pytest-ctxprop)")
    group.addoption(
        "--ctxprop-runtime",
        action="append",
        dest="ctxprop_runtime",
        metavar="SPEC",
        help="run the conformance suite against a runtime: a short name (stdlib.threadpool, "
        "reference.*), pkg.mod:factory or name=pkg.mod:factory. Repeatable.",
    )
    group.addoption(
        "--ctxprop-contextvars",
        action="append",
        dest="ctxprop_contextvars",
        metavar="MODULE",
        help="hold a contextvars implementation (pkg.module[:attr]) to stdlib token parity "
        "(T1-T10, TP). Repeatable.",
    )
    group.addoption(
        "--ctxprop-report",
        dest="ctxprop_report",
        metavar="FILE.json",
        help="write every verdict to this JSON file (schema in docs/report.md).",
    )
    group.addoption(
        "--ctxprop-timeout",
        dest="ctxprop_timeout",
        type=float,
        metavar="SECONDS",
        help="bound on each wait for a task (default: ini ctxprop_timeout, or 10).",
    )
    parser.addini("ctxprop_runtimes", "runtimes to test, one spec a line", type="linelist")
    parser.addini(
        "ctxprop_contextvars", "contextvars implementations to test, one a line", type="linelist"
    )
    parser.addini("ctxprop_timeout", "bound on each wait for a task, in seconds", default="10")


def pytest_configure(config: pytest.Config) -> None:
    if not (
        config.getoption("ctxprop_runtime")
        or config.getoption("ctxprop_contextvars")
        or config.getini("ctxprop_runtimes")
        or config.getini("ctxprop_contextvars")
        or config.pluginmanager.hook.pytest_ctxprop_runtimes.get_hookimpls()
    ):
        return
    from pytest_ctxprop._selection import select_contextvars, select_runtimes

    runtimes = select_runtimes(config)
    impls = select_contextvars(config)
    if runtimes or impls:
        timeout = config.getoption("ctxprop_timeout") or float(config.getini("ctxprop_timeout"))
        config.pluginmanager.register(
            _ConformanceSession(config, runtimes, impls, timeout), "ctxprop-session"
        )


class _ConformanceModule(pytest.Module):
    """A suite module imported by its installed name, whatever the user's python_files."""

    def _getobj(self) -> Any:
        import importlib

        return importlib.import_module(f"ctxprop_conformance.{self.path.stem}")

    def funcnamefilter(self, name: str) -> bool:
        return name.startswith("test_")

    def classnamefilter(self, name: str) -> bool:
        return name.startswith("Test")


def property_of(item: pytest.Item) -> str | None:
    """The SPEC property ID a test checks, from its name (``test_F2_...``)."""
    match = _PROPERTY_IN_NAME.match(getattr(item, "originalname", item.name))
    return match.group(1) if match else None


class _ConformanceSession:
    """Everything the plugin does once something is selected."""

    def __init__(
        self, config: pytest.Config, runtimes: list[Any], impls: list[Any], timeout: float
    ) -> None:
        from pytest_ctxprop._report import VerdictStore

        self.config = config
        self.runtimes = runtimes
        self.impls = impls
        self.timeout = timeout
        self.store = VerdictStore(runtimes, impls)
        if impls:
            from pytest_ctxprop._hypothesis_profiles import load_profile

            load_profile()

    # -- collection ------------------------------------------------------------------

    def _suite_modules(self) -> Iterator[str]:
        if self.runtimes:
            yield from _RUNTIME_MODULES
        if self.impls:
            yield from _CONTEXTVARS_MODULES

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        if isinstance(collector, pytest.Session) and report.passed:
            import ctxprop_conformance

            package = Path(ctxprop_conformance.__file__).parent
            for stem in self._suite_modules():
                report.result.append(
                    _ConformanceModule.from_parent(
                        collector,
                        path=package / f"{stem}.py",
                        nodeid=f"ctxprop_conformance/{stem}.py",
                    )
                )
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
            subject = _subject_of(item)
            pid = property_of(item)
            if subject is None or pid is None:
                continue
            deviations = subject.deviations
            if pid in deviations:
                item.add_marker(
                    pytest.mark.xfail(
                        reason=f"declared deviation: {deviations[pid]}",
                        raises=PropertyViolation,
                        strict=True,
                    )
                )

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
        subject, pid = _subject_of(item), property_of(item)
        if subject is not None and pid is not None:
            from pytest_ctxprop._report import verdict_of

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
            self.store.record(data, report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from pytest_ctxprop._report import render_terminal

        if self.store.results:
            terminalreporter.write_sep("=", "ctxprop conformance matrix")
            terminalreporter.write_line(render_terminal(self.store.to_json()))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = self.config.getoption("ctxprop_report")
        if path and not hasattr(self.config, "workerinput"):
            self.store.write(path)


def _subject_of(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    return callspec.params.get("ctxprop_runtime") or callspec.params.get("ctxprop_contextvars")
