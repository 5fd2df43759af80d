"""The pytest plugin (entry point ``ctxprop``): options, the marker, and nothing else
until a runtime or a contextvars implementation is selected *and* asked for.

When the suite runs (the rule, also in docs/report.md):

* a runtime or contextvars implementation is given on the command line
  (``--ctxprop-runtime``, ``--ctxprop-contextvars``): always;
* one is configured (ini ``ctxprop_runtime`` / ``ctxprop_contextvars``, the
  ``pytest_ctxprop_runtimes`` hook): only when the run names no path (pytest
  uses ``testpaths`` or the current folder), or a path names the suite
  (``ctxprop_conformance``, one of its modules, or a node id).

Every check carries the ``ctxprop`` marker, so ``-m 'not ctxprop'`` leaves the
suite out.  Once the suite runs, a :class:`ConformanceSession` does the rest.
"""

from __future__ import annotations

import os

import pytest

from pytest_ctxprop import _hookspecs
from pytest_ctxprop._collection import MARKER_HELP, is_suite_arg, take_suite_args

pytest_plugins = ["pytest_ctxprop.harness.plugin"]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(_hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    from pytest_ctxprop._settings import add_options

    add_options(parser)


def _register_hypothesis_profiles(config: pytest.Config) -> None:
    """Hypothesis loads ``--hypothesis-profile`` in its own pytest_configure: be there first.

    Hypothesis is imported only when a ctxprop profile is asked for (import cost).
    """
    from pytest_ctxprop._hypothesis_profiles import CI_PROFILE, DEV_PROFILE, register_profiles

    try:
        profile = config.getoption("hypothesis_profile")
    except ValueError:  # Hypothesis's plugin is not loaded
        return
    if profile in (CI_PROFILE, DEV_PROFILE):
        register_profiles()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    _register_hypothesis_profiles(config)
    from pytest_ctxprop._settings import check_report_path, read_settings

    settings = read_settings(config)
    has_hook = bool(config.pluginmanager.hook.pytest_ctxprop_runtimes.get_hookimpls())
    if not (settings.runtimes.specs or settings.contextvars.specs or has_hook):
        return
    names_suite = any(is_suite_arg(a, config.invocation_params.dir) for a in config.args)
    asked = (
        settings.selected_on_command_line
        or names_suite
        or config.args_source != pytest.Config.ArgsSource.ARGS
    )
    if not asked:
        return
    from pytest_ctxprop._selection import select_contextvars, select_runtimes

    runtimes = select_runtimes(config, settings.runtimes)
    impls = select_contextvars(config, settings.contextvars)
    if not (runtimes or impls):
        return
    if settings.report is not None and not hasattr(config, "workerinput"):
        check_report_path(settings.report, settings.report_label)
    from pytest_ctxprop._session import ConformanceSession

    session = ConformanceSession(config, settings, runtimes, impls, take_suite_args(config))
    config.pluginmanager.register(session, "ctxprop-session")
    if runtimes:  # an adapter's leftover thread must not keep the process alive
        from pytest_ctxprop._exit_guard import ExitGuard

        config.pluginmanager.register(ExitGuard(), "ctxprop-exit-guard")
        _export_redis_url(config)
    if settings.progress:
        from pytest_ctxprop._progress import Progress

        config.pluginmanager.register(Progress(config, session.store), "ctxprop-progress")


def _export_redis_url(config: pytest.Config) -> None:
    """``--ctxprop-redis-url`` (or its ini twin) reaches runtimes as ``CTXPROP_REDIS_URL``.

    The reference Redis queue and its worker processes read the environment;
    a URL already there is left alone.
    """
    url = config.getoption("ctxprop_redis_url", default=None) or config.getini("ctxprop_redis_url")
    if url:
        os.environ.setdefault("CTXPROP_REDIS_URL", str(url))
