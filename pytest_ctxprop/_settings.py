"""The plugin's settings: one name on the command line and in the ini file, validated once.

Every setting ``X`` is ``--ctxprop-X`` on the command line and ``ctxprop_X`` in
the ini file; the command line wins, as for pytest's own settings.  Values are
checked here, before anything runs, so a bad one is a usage error (exit 4)
that names the setting, never an INTERNALERROR or a surprise after the run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_TIMEOUT = 10.0

#: old ini name -> current name; still read, with a note in docs/report.md
INI_ALIASES: dict[str, str] = {"ctxprop_runtimes": "ctxprop_runtime"}


def add_options(parser: pytest.Parser) -> None:
    """Register every setting both ways."""
    group = parser.getgroup("ctxprop", "contextvars propagation conformance (pytest-ctxprop)")
    group.addoption(
        "--ctxprop-runtime",
        action="append",
        dest="ctxprop_runtime",
        metavar="SPEC",
        help="run the conformance suite against a runtime: a short name (stdlib.threadpool, "
        "reference.*), pkg.mod:factory or name=pkg.mod:factory. Repeatable. "
        "ini: ctxprop_runtime (one a line)",
    )
    group.addoption(
        "--ctxprop-contextvars",
        action="append",
        dest="ctxprop_contextvars",
        metavar="MODULE",
        help="hold a contextvars implementation (pkg.module[:attr]) to stdlib token parity "
        "(T1-T10, TP). Repeatable. ini: ctxprop_contextvars",
    )
    group.addoption(
        "--ctxprop-report",
        dest="ctxprop_report",
        metavar="FILE.json",
        help="write every verdict to this JSON file (schema ctxprop-report/1). ini: ctxprop_report",
    )
    group.addoption(
        "--ctxprop-timeout",
        dest="ctxprop_timeout",
        metavar="SECONDS",
        help=f"bound on each wait for a task (default {DEFAULT_TIMEOUT:g}). ini: ctxprop_timeout",
    )
    group.addoption(
        "--ctxprop-progress",
        dest="ctxprop_progress",
        action="store_const",
        const="true",
        help="print a line as each check starts and as each runtime finishes. "
        "ini: ctxprop_progress",
    )
    parser.addini("ctxprop_runtime", "runtimes to test, one spec a line", type="linelist")
    parser.addini(
        "ctxprop_runtimes", "old name of ctxprop_runtime (still accepted)", type="linelist"
    )
    parser.addini(
        "ctxprop_contextvars", "contextvars implementations to test, one a line", type="linelist"
    )
    parser.addini("ctxprop_report", "JSON report file, relative to the ini file's folder")
    parser.addini("ctxprop_timeout", "bound on each wait for a task, in seconds")
    parser.addini("ctxprop_progress", "print progress lines (true/false)")


@dataclass(frozen=True)
class Specs:
    """Specs of one selecting setting and where they came from (for messages)."""

    specs: tuple[str, ...]
    origin: str
    on_command_line: bool


@dataclass(frozen=True)
class Settings:
    runtimes: Specs
    contextvars: Specs
    report: Path | None
    report_label: str
    timeout: float
    progress: bool

    @property
    def selected_on_command_line(self) -> bool:
        return bool(
            (self.runtimes.on_command_line and self.runtimes.specs)
            or (self.contextvars.on_command_line and self.contextvars.specs)
        )


def _specs(config: pytest.Config, name: str) -> Specs:
    cli = [s for s in config.getoption(name) or [] if s.strip()]
    if config.getoption(name):
        if not cli:
            raise pytest.UsageError(f"--{name.replace('_', '-')}: empty spec")
        return Specs(tuple(cli), f"--{name.replace('_', '-')}", True)
    for ini in (name, *(old for old, new in INI_ALIASES.items() if new == name)):
        lines = [s.strip() for s in config.getini(ini) if s.strip()]
        if lines:
            return Specs(tuple(lines), f"ini {ini}", False)
    return Specs((), f"ini {name}", False)


def _raw(config: pytest.Config, name: str) -> tuple[str | None, str]:
    """The raw value of a scalar setting and how to name it in a message."""
    value = config.getoption(name)
    if value is not None:
        return str(value), f"--{name.replace('_', '-')}={value}"
    ini = config.getini(name)
    if ini not in (None, ""):
        return str(ini), f"ini {name} = {ini}"
    return None, name


def positive_seconds(text: object) -> float | None:
    """``text`` as a finite number of seconds above 0, or None when it is not one."""
    try:
        seconds = float(str(text))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def parse_timeout(config: pytest.Config) -> float:
    value, label = _raw(config, "ctxprop_timeout")
    if value is None:
        return DEFAULT_TIMEOUT
    seconds = positive_seconds(value)
    if seconds is None:
        raise pytest.UsageError(f"{label}: need a finite number of seconds greater than 0")
    return seconds


def _parse_bool(config: pytest.Config, name: str) -> bool:
    value, label = _raw(config, name)
    if value is None:
        return False
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise pytest.UsageError(f"{label}: need true or false")


def _report_path(config: pytest.Config) -> Path | None:
    cli = config.getoption("ctxprop_report")
    if cli:
        return Path(config.invocation_params.dir, cli)
    ini = config.getini("ctxprop_report")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return Path(base, ini)
    return None


def check_report_path(path: Path, label: str) -> None:
    """Refuse a report path that cannot be written, before the run instead of after it."""
    if path.is_dir():
        raise pytest.UsageError(f"{label}={path}: is a directory, need a file name")
    parent = path.parent
    if not parent.is_dir():
        raise pytest.UsageError(f"{label}={path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise pytest.UsageError(f"{label}={path}: not writable")


def read_settings(config: pytest.Config) -> Settings:
    """Every setting, validated; raises :class:`pytest.UsageError` naming a bad one."""
    return Settings(
        runtimes=_specs(config, "ctxprop_runtime"),
        contextvars=_specs(config, "ctxprop_contextvars"),
        report=_report_path(config),
        report_label="--ctxprop-report" if config.getoption("ctxprop_report") else "ctxprop_report",
        timeout=parse_timeout(config),
        progress=_parse_bool(config, "ctxprop_progress"),
    )
