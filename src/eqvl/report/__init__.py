"""Reports: results JSONs (+ optional per-sample scores) -> tables, plots, HTML and Markdown.

`Report` (document.py) is plain data (sections of text, tables and PNG figures); `html.py` and
`markdown.py` only render it, `plots.py` only draws, `collect.py` turns `eqvl eval`
outputs into a `Report`. The demo builds its own `Report` from the same parts.
"""

from eqvl.report.document import Figure, Report, Section, Table
from eqvl.report.write import write_report

__all__ = ["Figure", "Report", "Section", "Table", "write_report"]
