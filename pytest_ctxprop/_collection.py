"""How the suite enters a user's session: modules, items, the marker, and path arguments.

The suite is not in the user's tree, so pytest cannot find it by path.  The
plugin adds its modules to the session and gives every item the ``ctxprop``
marker.  A path argument naming the suite (``ctxprop_conformance``,
``ctxprop_conformance/test_forward.py``, a node id) is taken off pytest's own
arguments and selects within the suite instead.
"""

from __future__ import annotations

import importlib
import re
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

SUITE_PACKAGE = "ctxprop_conformance"
MARKER = "ctxprop"
MARKER_HELP = (
    f"{MARKER}: a check of the ctxprop conformance suite (deselect them with -m 'not {MARKER}')"
)
_PROPERTY_IN_NAME = re.compile(r"^test_([A-Z]+[0-9]*)_")
_HIDDEN_FRAMES = ("/_pytest/", "/pluggy/", "\\_pytest\\", "\\pluggy\\")
_MAX_FRAMES = 12


class ConformanceModule(pytest.Module):
    """A suite module imported by its installed name, whatever the user's python_files."""

    def _getobj(self) -> Any:
        return importlib.import_module(f"{SUITE_PACKAGE}.{self.path.stem}")

    def funcnamefilter(self, name: str) -> bool:
        return name.startswith("test_")

    def classnamefilter(self, name: str) -> bool:
        return name.startswith("Test")


def ignored(nodeid: str, config: pytest.Config) -> bool:
    """``--ignore`` / ``--ignore-glob`` naming the suite (``ctxprop_conformance[/test_x.py]``)."""
    import fnmatch

    for arg in config.getoption("ignore", None) or ():
        path = str(arg).replace("\\", "/").rstrip("/")
        if path in (SUITE_PACKAGE, nodeid) or path.endswith("/" + nodeid):
            return True
    globs = config.getoption("ignore_glob", None) or ()
    return any(fnmatch.fnmatch(nodeid, str(g).replace("\\", "/")) for g in globs)


def suite_modules(package: Path, stems: Iterable[str], parent: pytest.Session) -> list[Any]:
    modules = []
    for stem in stems:
        if ignored(f"{SUITE_PACKAGE}/{stem}.py", parent.config):
            continue
        module = ConformanceModule.from_parent(
            parent, path=package / f"{stem}.py", nodeid=f"{SUITE_PACKAGE}/{stem}.py"
        )
        module.add_marker(MARKER)
        modules.append(module)
    return modules


class ConformanceFunction(pytest.Function):
    """A conformance check; its failures are plain text, never parsed from source.

    pytest's own rendering looks up source statements with ``ast.parse``; on
    CPython 3.11 a nested ``ast.parse`` (a GC-time log formatting a traceback)
    raises ``SystemError`` (cpython gh-106905), an INTERNALERROR.  The verdict
    text is what the user needs; a short frame list is enough for errors.
    """

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str:
        return render_failure(excinfo.value)

    def _repr_failure_py(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str:
        return render_failure(excinfo.value)


def render_failure(exc: BaseException) -> str:
    """The message; for anything but a property violation, frames without source."""
    from pytest_ctxprop._verdicts import PropertyViolation

    if isinstance(exc, PropertyViolation):
        return str(exc)
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 4:
        seen.add(id(current))
        if parts:
            parts.append("caused by:")
        parts.extend(_frames(current.__traceback__))
        parts.append(f"{type(current).__qualname__}: {current}")
        nxt = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        current = nxt
    return "\n".join(parts)


def _frames(tb: TracebackType | None) -> list[str]:
    frames = [
        f'  File "{frame.f_code.co_filename}", line {lineno}, in {frame.f_code.co_name}'
        for frame, lineno in traceback.walk_tb(tb)
        if not any(h in frame.f_code.co_filename for h in _HIDDEN_FRAMES)
    ]
    if len(frames) > _MAX_FRAMES:
        frames = [f"  ... {len(frames) - _MAX_FRAMES} frames ...", *frames[-_MAX_FRAMES:]]
    return frames


def property_of(item: pytest.Item) -> str | None:
    """The SPEC property ID a test checks, from its name (``test_F2_...``)."""
    match = _PROPERTY_IN_NAME.match(getattr(item, "originalname", item.name))
    return match.group(1) if match else None


def subject_of(item: pytest.Item) -> Any:
    """The selected runtime or contextvars implementation an item checks, if any."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    return callspec.params.get("ctxprop_runtime") or callspec.params.get("ctxprop_contextvars")


def is_suite_arg(arg: str, invocation_dir: Path) -> bool:
    """Does a path argument name the suite (and not a folder of the user's)?"""
    path = arg.split("::", 1)[0].replace("\\", "/").rstrip("/")
    if path.split("/", 1)[0] != SUITE_PACKAGE:
        return False
    return not (invocation_dir / path).exists()


def take_suite_args(config: pytest.Config) -> list[str]:
    """Remove the arguments that name the suite from pytest's own, and return them."""
    ours = [a for a in config.args if is_suite_arg(a, config.invocation_params.dir)]
    config.args[:] = [a for a in config.args if a not in ours]
    return [a.replace("\\", "/").rstrip("/") for a in ours]


def matches(nodeid: str, arg: str) -> bool:
    if arg in (SUITE_PACKAGE, nodeid):
        return True
    return any(nodeid.startswith(arg + sep) for sep in ("/", "::", "["))


def select_by_args(config: pytest.Config, items: list[pytest.Item], args: Sequence[str]) -> None:
    """Keep the suite items the suite arguments name; the others are deselected."""
    suite = [i for i in items if i.nodeid.startswith(f"{SUITE_PACKAGE}/")]
    unmatched = [a for a in args if not any(matches(i.nodeid, a) for i in suite)]
    if unmatched:
        raise pytest.UsageError(
            f"not found in the ctxprop suite: {', '.join(unmatched)} "
            f"(node ids look like {SUITE_PACKAGE}/test_forward.py::test_F2_capture_at_submit[NAME])"
        )
    dropped = [i for i in suite if not any(matches(i.nodeid, a) for a in args)]
    if dropped:
        gone = set(map(id, dropped))
        items[:] = [i for i in items if id(i) not in gone]
        config.hook.pytest_deselected(items=dropped)
