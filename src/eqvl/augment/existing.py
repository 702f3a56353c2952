"""What `eqvl augment` does with an input that already has hard_negatives / hard_positives.

Silently replacing hand-made or earlier hard captions loses work, so the default is to refuse;
`--existing merge` keeps every existing caption (its type too, "untyped" when the file has none)
and adds only new rewrites; `--existing replace` drops them. Malformed existing values (not a
JSON list of strings) are named by line: merge cannot keep them (error, or the row is dropped
with --skip-bad); replace discards them and says how many.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from eqvl.augment.io import NEG_COL, NEG_TYPES_COL, POS_COL, POS_TYPES_COL, InputTable
from eqvl.errors import EqvlError

MODES = ("merge", "replace")
UNTYPED = "untyped"  # what the trainer calls a hard negative without a type
_PAIRS = ((NEG_COL, NEG_TYPES_COL), (POS_COL, POS_TYPES_COL))


@dataclass
class ExistingReport:
    """Counts for the run's summary: which columns, what was done, how many captions kept / dropped."""

    mode: str
    columns: list[str]
    rows_with_values: int = 0
    kept: dict[str, int] = field(default_factory=lambda: {NEG_COL: 0, POS_COL: 0})
    malformed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        cols = ", ".join(self.columns)
        if self.mode == "replace":
            text = f"existing {cols}: replaced ({self.rows_with_values} row(s) had values, now dropped)"
        else:
            text = (f"existing {cols}: merged (kept {self.kept[NEG_COL]} hard negative(s) and {self.kept[POS_COL]} "
                    f"hard positive(s) from {self.rows_with_values} row(s); new rewrites added only when not already there)")
        if self.malformed:
            text += f"; {len(self.malformed)} malformed value(s), first at line {self.malformed[0][0]}: {self.malformed[0][1]}"
        return text


def existing_columns(table: InputTable) -> list[str]:
    return [c for c in (NEG_COL, NEG_TYPES_COL, POS_COL, POS_TYPES_COL) if c in table.columns]


def refuse_unless_mode(path: str, table: InputTable, mode: str | None) -> None:
    """Without --existing, an input that already has hard captions is a one-line error."""
    cols = existing_columns(table)
    if cols and mode is None:
        filled = sum(1 for row in table.rows if any(_filled(row.get(c)) for c in cols))
        raise EqvlError(f"{path} already has column(s) {', '.join(cols)} ({filled} row(s) with values); pass "
                        "`existing` merge to keep them and add new rewrites, or `existing` replace to drop them", params=("existing",))


def prepare(path: str, table: InputTable, mode: str, skip_bad: bool) -> tuple[ExistingReport, list[dict]]:
    """Parse every row's existing hard captions before any augmenting. Malformed values are named by
    line: under merge they are an error, or (with `skip_bad`) their row is dropped from `table`."""
    report = ExistingReport(mode, existing_columns(table))
    olds, keep_rows, keep_lines = [], [], []
    for row, line in zip(table.rows, table.lines):
        old, problem = _parse_row(row)
        if any(old.values()) or problem:
            report.rows_with_values += 1
        if problem:
            report.malformed.append((line, problem))
            if mode == "merge" and not skip_bad:
                raise EqvlError(f"{path}:{line}: {problem}; `existing` merge cannot keep it (fix it, pass `skip_bad` "
                                "to drop the row, or use `existing` replace)", params=("existing", "skip_bad"))
            if mode == "merge":
                continue
        olds.append(old)
        keep_rows.append(row)
        keep_lines.append(line)
    table.rows, table.lines = keep_rows, keep_lines
    return report, olds


def apply(olds: list[dict], results: list[tuple[list, list]], report: ExistingReport) -> list[tuple[list, list]]:
    """Merge: existing (text, type) pairs first, then new rewrites not already there. Replace: new only."""
    if report.mode == "replace":
        return results
    merged = []
    for old, (neg, pos) in zip(olds, results):
        merged.append((_union(old[NEG_COL], neg), _union(old[POS_COL], pos)))
        report.kept[NEG_COL] += len(old[NEG_COL])
        report.kept[POS_COL] += len(old[POS_COL])
    return merged


def _parse_row(row: dict) -> tuple[dict[str, list[tuple[str, str]]], str | None]:
    """(existing (text, type) pairs per column, first problem or None)."""
    out: dict[str, list[tuple[str, str]]] = {NEG_COL: [], POS_COL: []}
    for col, types_col in _PAIRS:
        texts, problem = _string_list(row.get(col), col)
        types, type_problem = _string_list(row.get(types_col), types_col)
        problem = problem or type_problem
        if problem is None and types and len(types) != len(texts):
            problem = f"{types_col} has {len(types)} types for {len(texts)} captions"
        if problem:
            return out, problem
        out[col] = list(zip(texts, types or [UNTYPED] * len(texts)))
    return out, None


def _string_list(value: Any, col: str) -> tuple[list[str], str | None]:
    if not _filled(value):
        return [], None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            return [], f"{col} is not a JSON list ({exc.msg})"
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [], f"{col} is not a JSON list of strings"
    return value, None


def _filled(value: Any) -> bool:
    return value not in (None, "", [])


def _union(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen = {text for text, _ in old}
    return old + [(text, kind) for text, kind in new if text not in seen]
