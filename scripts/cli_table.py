"""Print (or, with --write, refresh in docs/guide/cli.md) the table of the flags commands share."""

from __future__ import annotations

import sys
from pathlib import Path

from eqvl.cli import build_parser
from eqvl.commands.vocabulary import BEGIN, END, markdown_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "guide" / "cli.md"


def refreshed(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{markdown_table(build_parser())}\n{END}{tail}"


if __name__ == "__main__":
    if "--write" in sys.argv:
        DOC.write_text(refreshed(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(markdown_table(build_parser()))
