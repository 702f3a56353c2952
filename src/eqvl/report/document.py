"""The report document as plain data (sections of paragraphs, tables, figures), so that HTML
and Markdown render exactly the same content."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    """A table of already formatted cells (the terminal's tables are rich's, see console.py)."""

    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    """A PNG image (bytes) plus a short name used for the Markdown's image file."""

    name: str
    png: bytes
    caption: str = ""
    #: the chance level drawn as a dashed line, in words ("16.7%"); "" when the plot has none
    chance: str = ""


@dataclass
class Note:
    """A highlighted one-paragraph message: `status` is "good", "mixed", "bad" or "warning"
    (the colour of a verdict, or of a banner such as a smoke run's)."""

    text: str
    status: str = "warning"
    key: str = ""  #: shown first and in bold (the verdict's word or key number)


@dataclass
class Details:
    """Supporting data a reader rarely needs (a config dump): collapsed in HTML."""

    summary: str
    text: str


@dataclass
class Section:
    """One heading with its blocks in order: str (a paragraph), `Table`, `Figure`, `Note`,
    `Details`, or `("code", text)` for a preformatted block (commands to re-run)."""

    title: str
    blocks: list = field(default_factory=list)

    def add(self, block) -> "Section":
        self.blocks.append(block)
        return self


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)
    subtitle: str = ""
    #: shown above everything (e.g. "smoke run: these verdicts mean nothing")
    banner: Note | None = None

    def section(self, title: str) -> Section:
        sec = Section(title)
        self.sections.append(sec)
        return sec
