"""The published matrix as one self-contained HTML page (``docs/matrix.html``).

No external assets: the style and the script are inline, and the page's
Content-Security-Policy allows only those two (by hash), so nothing else can
load or run even if it got in.  Every name, version and reason is HTML-escaped;
a cell's reason travels in a ``data-reason`` attribute and is shown with
``textContent``, never parsed as HTML.  Hovering a cell shows its reason in the
panel under the table, clicking (or Enter) pins it; ``title`` gives the
browser's own tooltip too.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from html import escape
from typing import Any

from pytest_ctxprop._render import publish_grid
from pytest_ctxprop._versions import describe

#: background colour of each verdict's cells (``None``: selected, never reported)
COLOURS: dict[str | None, str] = {
    "pass": "#c6efce",
    "fail": "#ffc7ce",
    "deviation": "#ffe0b2",
    "n/a": "#e6e6e6",
    "inconclusive": "#fff3a3",
    "error": "#dcc3f5",
    None: "#ffffff",
}
SYMBOLS: dict[str | None, str] = {
    "pass": "✓",
    "fail": "✗",
    "deviation": "D",
    "n/a": "\u2013",
    "inconclusive": "?",
    "error": "E",
    None: "·",
}
_TITLE_LIMIT = 1000


def css_class(verdict: str | None) -> str:
    """``v-pass``, ``v-fail``, ``v-na``, ... ``v-not-run`` for a verdict."""
    return "v-" + {"n/a": "na", None: "not-run"}.get(verdict, str(verdict))


def _style() -> str:
    rules = "\n".join(
        f".{css_class(v)} {{ background-color: {colour}; }}" for v, colour in COLOURS.items()
    )
    return f"""
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #1a1a1a; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }}
th, td {{ border: 1px solid #bbb; padding: 0.15rem 0.35rem; }}
thead th {{ position: sticky; top: 0; background: #f4f4f4; }}
tbody th {{ text-align: left; font-family: ui-monospace, monospace; white-space: nowrap; }}
td.lib {{ white-space: nowrap; color: #444; }}
td.cell {{ text-align: center; cursor: pointer; min-width: 1.4rem; }}
td.cell:focus, td.cell.chosen {{ outline: 2px solid #1a4fd6; outline-offset: -2px; }}
.v-not-run {{ border-style: dashed; }}
ul.legend {{ list-style: none; padding: 0; display: flex; gap: 1rem; flex-wrap: wrap; }}
ul.legend span {{ display: inline-block; padding: 0 0.4rem; border: 1px solid #bbb; }}
#detail {{ position: sticky; bottom: 0; background: #fafafa; border-top: 2px solid #888;
  margin-top: 1rem; padding: 0.5rem; max-height: 40vh; overflow: auto; }}
#detail-reason {{ white-space: pre-wrap; font-family: ui-monospace, monospace; margin: 0; }}
{rules}
"""


_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("matrix");
  var title = document.getElementById("detail-title");
  var body = document.getElementById("detail-reason");
  var pinned = null;
  function cellOf(event) {
    var node = event.target;
    return node && node.closest ? node.closest("td.cell") : null;
  }
  function show(cell) {
    var d = cell.dataset;
    title.textContent = d.runtime + " \\u00d7 " + d.property + ": " + d.verdict;
    body.textContent = d.reason || "(no reason given)";
  }
  function pin(cell) {
    if (pinned) { pinned.classList.remove("chosen"); }
    pinned = cell;
    cell.classList.add("chosen");
    show(cell);
  }
  table.addEventListener("mouseover", function (e) {
    var cell = cellOf(e);
    if (cell && !pinned) { show(cell); }
  });
  table.addEventListener("click", function (e) {
    var cell = cellOf(e);
    if (cell) { pin(cell); }
  });
  table.addEventListener("keydown", function (e) {
    var cell = cellOf(e);
    if (cell && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); pin(cell); }
  });
})();
"""


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _cell(row: str, pid: str, result: Mapping[str, Any] | None) -> str:
    if result is None:
        return '<td class="empty"></td>'
    verdict = result["verdict"]
    reason = str(result.get("reason") or "")
    label = verdict or "not run"
    tip = f"{label}: {reason}" if reason else label
    if len(tip) > _TITLE_LIMIT:
        tip = tip[:_TITLE_LIMIT] + " …"
    return (
        f'<td class="cell {css_class(verdict)}" tabindex="0" data-runtime="{_e(row)}" '
        f'data-property="{_e(pid)}" data-verdict="{_e(label)}" data-reason="{_e(reason)}" '
        f'title="{_e(tip)}">{SYMBOLS.get(verdict, "?")}</td>'
    )


def render_html(report: Mapping[str, Any], command: str) -> str:
    """The whole page, from a ``ctxprop-report/1`` document."""
    from ctxprop_conformance.properties import PROPERTIES

    rows, columns, cells = publish_grid(dict(report))
    libraries = report.get("libraries", {})
    style, script = _style(), _SCRIPT
    csp = f"default-src 'none'; style-src '{_hash(style)}'; script-src '{_hash(script)}'"
    when = str(report.get("generated") or "")[:10]
    meta = (
        f"Generated{' on ' + when if when else ''} by <code>{_e(command)}</code> with "
        f"pytest-ctxprop {_e(report['suite_version'])} (SPEC {_e(report['spec_version'])}) "
        f"on Python {_e(report['python'])} ({_e(report['implementation'])}, "
        f"{_e(report['platform'])})."
    )
    legend = "".join(
        f'<li><span class="{css_class(v)}">{SYMBOLS[v]}</span> {_e(v or "not run")}</li>'
        for v in COLOURS
    )
    head = "".join(
        f'<th scope="col" title="{_e(PROPERTIES[pid].title if pid in PROPERTIES else pid)}">'
        f"{_e(pid)}</th>"
        for pid in columns
    )
    body = []
    for row in rows:
        tds = "".join(_cell(row, pid, cells.get((row, pid))) for pid in columns)
        body.append(
            f'<tr data-runtime="{_e(row)}"><th scope="row">{_e(row)}</th>'
            f'<td class="lib">{_e(describe(libraries.get(row)))}</td>{tds}</tr>'
        )
    warning = (
        ""
        if report.get("complete", True)
        else '<p class="incomplete"><strong>Incomplete</strong>: some rows hung or could not '
        "run (their cells say why).</p>"
    )
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>ctxprop conformance matrix</title>",
        f"<style>{style}</style>",
        "</head>",
        "<body>",
        "<h1>The ctxprop conformance matrix</h1>",
        f'<p class="meta">{meta}</p>',
        warning,
        f'<ul class="legend">{legend}</ul>',
        "<p>Hover over a cell to see its reason (the diff for a fail); click it to keep it.</p>",
        '<table id="matrix">',
        f'<thead><tr><th scope="col">runtime</th><th scope="col">library</th>{head}</tr></thead>',
        f"<tbody>{''.join(body)}</tbody>",
        "</table>",
        '<section id="detail" aria-live="polite"><h2 id="detail-title">'
        'Hover over or click a cell</h2><pre id="detail-reason"></pre></section>',
        f"<script>{script}</script>",
        "</body>",
        "</html>",
        "",
    ])  # fmt: skip
