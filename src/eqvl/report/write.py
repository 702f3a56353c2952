"""Write a report as HTML + Markdown (+ the Markdown's images), atomically."""

from __future__ import annotations

from pathlib import Path

from eqvl.errors import EqvlError
from eqvl.io import atomic_open
from eqvl.io import check_outputs
from eqvl.report.html import render_html
from eqvl.report.markdown import render_markdown
from eqvl.report.document import Report


def write_report(report: Report, html_path: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
    """Write `html_path`, `<stem>.md` beside it and `<stem>_files/*.png` for the Markdown.
    Refuses to replace an existing HTML or Markdown file unless `overwrite`."""
    html_path = Path(html_path)
    md_path = html_path.with_suffix(".md")
    img_dir_name = f"{html_path.stem}_files"
    problems = []
    try:
        check_outputs([html_path, md_path], overwrite)  # a folder given as --output, every clash at once
    except EqvlError as exc:
        problems.append(str(exc))
    if (html_path.parent / img_dir_name).exists() and not (html_path.parent / img_dir_name).is_dir():
        problems.append(f"{html_path.parent / img_dir_name} is a file; the report's images go in a folder of that name")
    if problems:
        raise EqvlError("; ".join(problems))
    markdown, images = render_markdown(report, img_dir_name)
    for rel, png in images.items():
        with atomic_open(html_path.parent / rel, "wb") as handle:
            handle.write(png)
    with atomic_open(md_path, "w", encoding="utf-8") as handle:
        handle.write(markdown)
    with atomic_open(html_path, "w", encoding="utf-8") as handle:
        handle.write(render_html(report))
    return {"html": html_path, "markdown": md_path, "images": html_path.parent / img_dir_name}
