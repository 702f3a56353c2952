"""Render a `Report` to one self-contained HTML file (plots inlined as base64 PNG)."""

from __future__ import annotations

import base64
import html

from eqvl.report.document import Details, Figure, Note, Report, Table

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em;max-width:100%}
td{overflow-wrap:anywhere} .wide{display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right} th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0;color:#555}
figure{margin:1em 0} figcaption{color:#555;font-style:italic;font-size:.9em}
img{max-width:100%;height:auto} pre{background:#f6f6f6;padding:.8em;overflow-x:auto}
.subtitle{color:#666}
.note{border-left:6px solid;padding:.5em .8em;margin:.6em 0;border-radius:3px}
.note-good{border-color:#2e7d32;background:#e8f5e9} .note-mixed{border-color:#ef8f00;background:#fff4e0}
.note-bad{border-color:#c62828;background:#fdecea} .note-warning{border-color:#b26a00;background:#fff8e1}
.note-info{border-color:#1565c0;background:#e3f2fd}
.banner{font-size:1.05em}
details{margin:.6em 0} summary{cursor:pointer;color:#555}
"""


def render_html(report: Report) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(report.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(report.title)}</h1>",
    ]
    if report.subtitle:
        out.append(f'<p class="subtitle">{_e(report.subtitle)}</p>')
    if report.banner:
        out.append(_note(report.banner, "banner"))
    for sec in report.sections:
        out.append(f"<h2>{_e(sec.title)}</h2>")
        for block in sec.blocks:
            out.append(_block(block))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _block(block) -> str:
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        cap = f"<figcaption>{_e(block.caption)}</figcaption>" if block.caption else ""
        chance = f' data-chance="{_e(block.chance)}"' if block.chance else ""
        return f'<figure{chance}><img alt="{_e(block.name)}" src="data:image/png;base64,{data}">{cap}</figure>'
    if isinstance(block, Note):
        return _note(block)
    if isinstance(block, Details):
        return f"<details><summary>{_e(block.summary)}</summary><pre><code>{_e(block.text)}</code></pre></details>"
    if isinstance(block, tuple) and block and block[0] == "code":
        return f"<pre><code>{_e(block[1])}</code></pre>"
    return f"<p>{_e(str(block))}</p>"


def _note(note: Note, extra: str = "") -> str:
    key = f"<strong>{_e(note.key)}</strong> " if note.key else ""
    return f'<div class="note note-{_e(note.status)} {extra}" data-status="{_e(note.status)}">{key}{_e(note.text)}</div>'


def _table(table: Table) -> str:
    """In a `.wide` box: a table of many columns (the demo's variants x metrics) scrolls inside its box
    on a narrow screen instead of pushing the whole page sideways."""
    parts = ['<div class="wide"><table>']
    if table.caption:
        parts.append(f"<caption>{_e(table.caption)}</caption>")
    parts.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in table.headers) + "</tr>")
    for row in table.rows:
        parts.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    parts.append("</table></div>")
    return "".join(parts)


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)
