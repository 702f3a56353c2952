"""Render a `Report` to Markdown; figures become PNG files in a folder beside it
(GitHub does not display data-URI images)."""

from __future__ import annotations

from eqvl.report.document import Details, Figure, Note, Report, Table

#: a marker per status, since Markdown has no colour
_MARK = {"good": "✅", "mixed": "🟠", "bad": "❌", "warning": "⚠️", "info": "ℹ️"}


def render_markdown(report: Report, image_dir: str = "") -> tuple[str, dict[str, bytes]]:
    """Return (markdown text, {relative image path: png bytes}) for the caller to write."""
    images: dict[str, bytes] = {}
    out = [f"# {report.title}", ""]
    if report.subtitle:
        out += [f"_{report.subtitle}_", ""]
    if report.banner:
        out += [_note(report.banner), ""]
    for sec in report.sections:
        out += [f"## {sec.title}", ""]
        for block in sec.blocks:
            if isinstance(block, Table):
                out += _table(block)
            elif isinstance(block, Figure):
                rel = f"{image_dir}/{block.name}.png" if image_dir else f"{block.name}.png"
                images[rel] = block.png
                out.append(f"![{block.caption or block.name}]({rel})")
                if block.caption:
                    out += ["", f"_{block.caption}_"]
            elif isinstance(block, Note):
                out.append(_note(block))
            elif isinstance(block, Details):
                out += ["<details><summary>" + block.summary + "</summary>", "", "```", block.text.rstrip("\n"), "```",
                        "", "</details>"]
            elif isinstance(block, tuple) and block and block[0] == "code":
                out += ["```", block[1].rstrip("\n"), "```"]
            else:
                out.append(str(block))
            out.append("")
    return "\n".join(out).rstrip() + "\n", images


def _note(note: Note) -> str:
    key = f"**{note.key}** " if note.key else ""
    return f"> {_MARK.get(note.status, '')} {key}{note.text}".replace("  ", " ")


def _table(table: Table) -> list[str]:
    lines = []
    if table.caption:
        lines += [f"**{table.caption}**", ""]
    lines.append("| " + " | ".join(_cell(h) for h in table.headers) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(table.headers) - 1)) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return lines


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
