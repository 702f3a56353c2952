"""Every relative link in the README and docs/ resolves, and the README stays a front page (~200 lines)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted(ROOT.glob("scripts/**/README.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
#: the README's length, the front page a newcomer finishes (issue 19: ~200 lines)
README_MAX_LINES = 220


def _targets(path: Path) -> list[tuple[int, str]]:
    out = []
    in_code = False
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        for match in LINK.finditer(line):
            out.append((lineno, match.group(1) or match.group(2)))
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    broken = []
    for lineno, target in _targets(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a web address or an anchor in the same page
        file_part = target.split("#", 1)[0]
        if not (doc.parent / file_part).exists():
            broken.append(f"{doc.relative_to(ROOT)}:{lineno}: {target}")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move details to docs/guide/"
    head = "\n".join(lines[:60])
    assert "make demo" in head and "make test" in head  # the two commands on the first screen
