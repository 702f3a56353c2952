"""Reading inputs with line numbers: UTF-8 text (BOM accepted), JSON, JSONL and delimited files;
a bad byte or line names file, line and offset."""

from __future__ import annotations

import codecs
import csv
import json
import os
from pathlib import Path
from typing import Any, Iterator

from eqvl.errors import DataError

def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 text file (a leading byte-order mark dropped); bad bytes name file, line and byte offset."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    data = path.read_bytes()
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = skip + exc.start
        raise DataError(_not_utf8(data[at], at), path=str(path), line=data.count(b"\n", 0, at) + 1) from None

def _not_utf8(byte: int, offset: int) -> str:
    return f"not UTF-8 text: byte 0x{byte:02x} at byte offset {offset} (re-save the file as UTF-8)"

def text_lines(path: str | os.PathLike, bad: list[tuple[int, str]] | None = None,
               header: bool = False) -> Iterator[tuple[int, str]]:
    """Yield (line_number, text) of a UTF-8 file, a leading byte-order mark dropped.

    A line that is not UTF-8 raises DataError naming file, line and byte offset; with `bad` given
    it is appended there as (line_number, reason) and skipped instead (except line 1 when
    `header`: a CSV without its header cannot be read on).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    offset = 0
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            start, offset = offset, offset + len(raw)
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw, start = raw[len(codecs.BOM_UTF8):], start + len(codecs.BOM_UTF8)
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                reason = _not_utf8(raw[exc.start], start + exc.start)
                if bad is None or (header and lineno == 1):
                    raise DataError(reason, path=str(path), line=lineno) from None
                bad.append((lineno, reason))

def read_json(path: str | os.PathLike) -> Any:
    """Load a JSON file; a syntax error names the file and line."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=str(path), line=exc.lineno) from None

def read_jsonl(path: str | os.PathLike, bad: list[tuple[int, str]] | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line; bad lines name file and line.

    With `bad` given, a malformed line (bad JSON, not an object, not UTF-8) is appended to it as
    (line_number, reason) and skipped, so a caller can report every bad line at once.
    """
    path = Path(path)
    for lineno, line in text_lines(path, bad):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            reason = None if isinstance(obj, dict) else f"expected a JSON object, got {type(obj).__name__}"
        except json.JSONDecodeError as exc:
            reason = f"malformed JSON: {exc.msg} (column {exc.colno})"
        if reason is None:
            yield lineno, obj
        elif bad is None:
            raise DataError(reason, path=str(path), line=lineno)
        else:
            bad.append((lineno, reason))

def read_csv_rows(path: str | os.PathLike, sep: str = "\t",
                  bad: list[tuple[int, str]] | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, row) from a delimited file with a header (open_clip's CSV is tab-separated).

    A UTF-8 byte-order mark is accepted; with `bad` given, undecodable lines and rows with too
    many fields are recorded there as (line_number, reason) and skipped instead of raising.
    """
    path = Path(path)
    physical: list[int] = []  # the file's line number of each line handed to the csv module

    def lines() -> Iterator[str]:
        for lineno, text in text_lines(path, bad, header=True):
            physical.append(lineno)
            yield text

    reader = csv.DictReader(lines(), delimiter=sep)
    if reader.fieldnames is None:
        raise DataError("empty file (no header)", path=str(path), line=1)
    for row in reader:
        line = physical[reader.line_num - 1]
        if None in row:
            reason = f"more fields than the header's {len(reader.fieldnames)}"
            if bad is None:
                raise DataError(reason, path=str(path), line=line)
            bad.append((line, reason))
            continue
        yield line, row
