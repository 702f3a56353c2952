"""The open_clip pair format, read in one place: a delimited file with a header (tab-separated by
default; `filepath`, `title` and any extra columns) or JSONL with the same keys (`image` /
`caption` accepted too). Training (`train/records.py`), the index (`index/sources.py`) and
augment (`augment/io.py`) validate records each their own way; the file format — the header
check, JSONL's key fallbacks, line numbers, bad lines — lives here once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from eqvl.errors import DataError
from eqvl.io import read_csv_rows, read_jsonl

#: keys a JSONL record may use instead of the configured ones (open_clip spellings first)
IMAGE_KEYS = ("filepath", "image")
CAPTION_KEYS = ("title", "caption")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True)
class PairFormat:
    """open_clip's names: `csv_img_key`, `csv_caption_key`, `csv_separator`. `required` lists what
    the header must hold ("image", "caption"): the index needs no caption, augment no image."""

    img_key: str = "filepath"
    caption_key: str = "title"
    separator: str = "\t"
    required: tuple[str, ...] = ("image", "caption")


@dataclass
class PairRecord:
    """One record: its line, the raw columns, and which keys hold its image and caption here
    (None when the record has none)."""

    line: int
    raw: dict
    img_key: str | None
    cap_key: str | None


def is_jsonl(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in JSONL_SUFFIXES


def _check_header(path: Path, header: list[str], fmt: PairFormat) -> None:
    wanted = {"image": fmt.img_key, "caption": fmt.caption_key}
    params = {"image": "csv_img_key", "caption": "csv_caption_key"}
    missing = [need for need in fmt.required if wanted[need] not in header]
    if missing:
        columns = ", ".join(repr(wanted[m]) for m in missing)
        names = tuple(params[m] for m in missing) + ("csv_separator",)
        raise DataError(f"missing column(s) {columns}; header has {', '.join(map(repr, header))} "
                        f"(separator {fmt.separator!r}; see {' / '.join(names)})", path=str(path), line=1, params=names)


def pair_records(path: str | os.PathLike, fmt: PairFormat = PairFormat(),
                 bad: list[tuple[int, str]] | None = None, jsonl: bool | None = None) -> Iterator[PairRecord]:
    """Every record of a pair file in order (`jsonl`: None decides by the suffix). With `bad`
    given, undecodable lines and rows with too many fields are recorded there as (line, reason)
    and skipped; otherwise they raise."""
    path = Path(path)
    if is_jsonl(path) if jsonl is None else jsonl:
        for line, obj in read_jsonl(path, bad=bad):
            img = next((k for k in (fmt.img_key, *IMAGE_KEYS) if k in obj), None)
            cap = next((k for k in (fmt.caption_key, *CAPTION_KEYS) if k in obj), None)
            yield PairRecord(line, obj, img, cap)
        return
    first = True
    for line, row in read_csv_rows(path, sep=fmt.separator, bad=bad):
        if first:
            _check_header(path, list(row), fmt)
            first = False
        yield PairRecord(line, row, fmt.img_key if fmt.img_key in row else None,
                         fmt.caption_key if fmt.caption_key in row else None)
