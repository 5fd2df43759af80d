"""Writing the published matrix: ``matrix.md``, ``matrix.html``, ``matrix.json``, the summary.

Every file is replaced atomically (a reader sees the old one or the new one).
The CI step summary goes to ``--summary FILE`` (replaced) or else, when
``GITHUB_STEP_SUMMARY`` is set, is appended there (as GitHub Actions expects).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_ctxprop._publish_html import render_html
from pytest_ctxprop._publish_markdown import render_page, render_summary
from pytest_ctxprop._report import write_json_atomically
from pytest_ctxprop._versions import collect_versions

PAGE, HTML, JSON = "matrix.md", "matrix.html", "matrix.json"


def generated_at() -> str:
    """Now (UTC, ISO 8601), or ``SOURCE_DATE_EPOCH`` for reproducible output."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    seconds = int(epoch) if epoch.isdigit() else int(time.time())
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def annotate(report: dict[str, Any], rows: Iterable[str] | None = None) -> dict[str, Any]:
    """Add ``generated`` and ``libraries`` (each row's library version) to a report."""
    names = list(rows) if rows is not None else list(report["runtimes"])
    report["generated"] = generated_at()
    report["libraries"] = collect_versions(names)
    return report


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish_docs(report: dict[str, Any], folder: Path, command: str) -> list[Path]:
    """``matrix.md``, ``matrix.html`` and ``matrix.json`` in ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_text(folder / PAGE, render_page(report, command))
    _write_text(folder / HTML, render_html(report, command))
    write_json_atomically(folder / JSON, report)
    written = [folder / PAGE, folder / HTML, folder / JSON]
    for path in written:
        path.chmod(0o644)  # published files, not mkstemp's private 0600
    return written


def summary_target(explicit: str | None) -> tuple[Path, bool] | None:
    """Where the step summary goes, and whether it is appended (GITHUB_STEP_SUMMARY)."""
    if explicit:
        return Path(explicit), False
    github = os.environ.get("GITHUB_STEP_SUMMARY")
    return (Path(github), True) if github else None


def write_summary(report: dict[str, Any], target: tuple[Path, bool]) -> Path:
    path, append = target
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_summary(report)
    if append:
        with path.open("a", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        _write_text(path, text)
    return path
