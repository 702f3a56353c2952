"""Reading captions and writing the augmented training file (open_clip CSV or JSONL), in parallel if asked.

Why a tolerant reader: on a 500k-row file the user wants every bad line listed at once, with its number,
not the first one only; `--skip-bad` then drops exactly those rows.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from eqvl.augment import augment_caption
from eqvl.augment.wordnet import get_wordnet
from eqvl.errors import DataError, EqvlError
from eqvl.processes import process_pool
from eqvl.data.pairs import PairFormat, is_jsonl, pair_records
from eqvl.io import atomic_open, check_writable

NEG_COL, POS_COL = "hard_negatives", "hard_positives"
NEG_TYPES_COL, POS_TYPES_COL = "hard_negative_types", "hard_positive_types"


@dataclass
class InputTable:
    """Rows of the input file, with the line number of each row and the lines that could not be read."""

    columns: list[str]
    rows: list[dict]
    lines: list[int]
    bad: list[tuple[int, str]] = field(default_factory=list)
    fmt: str = "csv"


def read_table(path: str | Path, caption_column: str, sep: str = "\t") -> InputTable:
    """Read a pair file (`eqvl.data.pairs`: a CSV with a header, tab-separated by default, or JSONL);
    collect (line, reason) for unreadable rows and rows without a caption instead of raising."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    jsonl = is_jsonl(path)
    table = InputTable([], [], [], fmt="jsonl" if jsonl else "csv")
    fmt = PairFormat(caption_key=caption_column, separator=sep, required=("caption",))
    for record in pair_records(path, fmt, bad=table.bad):
        row = record.raw
        if not jsonl and not table.columns:
            table.columns = list(row)
        if None in row.values():  # the csv module fills a short row's missing fields with None
            table.bad.append((record.line, f"{sum(v is not None for v in row.values())} fields, "
                                           f"the header has {len(row)}"))
            continue
        cap = row.get(caption_column)
        if not isinstance(cap, str) or not cap.strip():
            table.bad.append((record.line, f"missing or empty {caption_column!r}"))
            continue
        for key in row if jsonl else ():
            if key not in table.columns:
                table.columns.append(key)
        table.rows.append(row)
        table.lines.append(record.line)
    table.bad.sort()
    return table


def describe_bad(path: str | Path, bad: list[tuple[int, str]], limit: int = 10) -> str:
    shown = "; ".join(f"{path}:{line}: {why}" for line, why in bad[:limit])
    more = f" (and {len(bad) - limit} more)" if len(bad) > limit else ""
    return f"{len(bad)} row(s) could not be read: {shown}{more}"


# -- parallel augmentation ---------------------------------------------------------------------------------------
_SETTINGS: dict = {}


def _init_worker(settings: dict, preload: bool = False) -> None:
    _SETTINGS.clear()
    _SETTINGS.update(settings)
    wn = get_wordnet() if preload else None
    if wn is not None:
        wn.preload()  # a worker parses WordNet once, up front


def _augment_one(text: str) -> tuple[list, list]:
    s = _SETTINGS
    res = augment_caption(text, negatives=s["negatives"], positives=s["positives"], seed=s["seed"],
                          per_type=s["per_type"], rewriter=s.get("rewriter"))
    keep = s["keep_invalid"]
    neg = [(r.text, r.type) for r in res.negatives if keep or r.valid]
    pos = [(r.text, r.type) for r in res.positives if keep or r.valid]
    return neg, pos


def augment_many(captions: list[str], *, negatives, positives, seed: int = 0, per_type: int = 1,
                 workers: int = 1, keep_invalid: bool = False, rewriter=None,
                 progress: bool = False) -> Iterator[tuple[list, list]]:
    """(negatives, positives) as (text, type) pairs per caption, in input order, for any number of workers.

    Results do not depend on `workers`: each caption's randomness comes from (seed, caption) alone.
    """
    settings = dict(negatives=tuple(negatives), positives=tuple(positives), seed=seed, per_type=per_type,
                    keep_invalid=keep_invalid, rewriter=rewriter)
    bar = None
    if progress:
        from eqvl.progress import progress_bar

        bar = progress_bar(total=len(captions), unit="cap", desc="augment", file=sys.stderr, mininterval=0.5)
    if workers <= 1 or rewriter is not None or len(captions) < 2 * workers:
        _init_worker(settings)
        for cap in captions:
            yield _augment_one(cap)
            if bar:
                bar.update()
    else:
        chunk = max(16, min(512, len(captions) // (workers * 8) or 1))
        # spawned workers (eqvl.processes: never fork after threads); each parses WordNet once
        with process_pool(workers, initializer=_init_worker, initargs=(settings, True)) as pool:
            for item in pool.imap(_augment_one, captions, chunksize=chunk):
                yield item
                if bar:
                    bar.update()
    if bar:
        bar.close()


def write_table(path: str | Path, table: InputTable, results: list[tuple[list, list]], *, types: bool,
                overwrite: bool, sep: str = "\t") -> Path:
    """Write input columns + hard_negatives/hard_positives (JSON lists) [+ *_types] atomically."""
    path = check_writable(path, overwrite)
    extra = [NEG_COL, POS_COL] + ([NEG_TYPES_COL, POS_TYPES_COL] if types else [])
    hard = (NEG_COL, POS_COL, NEG_TYPES_COL, POS_TYPES_COL)  # an input's own are never copied through stale
    columns = [c for c in table.columns if c not in hard] + extra
    jsonl = is_jsonl(path)
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = None if jsonl else csv.writer(handle, delimiter=sep, lineterminator="\n")
        if writer:
            writer.writerow(columns)
        for row, (neg, pos) in zip(table.rows, results):
            out = {c: row.get(c, "") for c in columns if c not in hard}
            values = {NEG_COL: [t for t, _ in neg], POS_COL: [t for t, _ in pos]}
            if types:
                values[NEG_TYPES_COL] = [k for _, k in neg]
                values[POS_TYPES_COL] = [k for _, k in pos]
            if jsonl:
                out.update(values)
                handle.write(json.dumps(out, ensure_ascii=False) + "\n")
            elif writer is not None:  # not jsonl: the csv writer made above
                out.update({k: json.dumps(v, ensure_ascii=False) for k, v in values.items()})
                writer.writerow([out[c] if isinstance(out[c], str) else json.dumps(out[c]) for c in columns])
    return path


def same_file(a: str | Path, b: str | Path) -> bool:
    a, b = Path(a), Path(b)
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.exists() and a.samefile(b))
    except OSError:
        return False


def ensure_not_input(inp: str | Path, out: str | Path) -> None:
    if same_file(inp, out):
        raise EqvlError(f"`output` {out} is the input file; eqvl never overwrites its input, choose another path", params=("output",))
