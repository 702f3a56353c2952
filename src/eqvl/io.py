"""Atomic writes, overwrite protection and line-numbered JSON/JSONL/CSV reading.

Every writer in eqvl goes through here so that an interrupted run never leaves a
half-written result and a user's file is never replaced without `--overwrite`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from eqvl.errors import DataError, EqvlError
from eqvl.outputs import LOCK_NAME, OutputLock, OutputLockedError, check_outputs

__all__ = [
    "LOCK_NAME", "OutputLock", "OutputLockedError", "atomic_open", "check_outputs", "check_writable",
    "current_umask", "read_csv_rows", "read_json", "read_jsonl", "write_json_atomic", "write_jsonl_atomic",
]


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse to replace an existing output unless the user said `--overwrite`."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise EqvlError(f"{path} already exists; pass --overwrite to replace it")
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[Any]:
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs should get the user's usual mode
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask alone must set it
    to read it, which races with threads creating files); files we create get 0o666 & ~umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | os.PathLike, obj: Any, overwrite: bool = True, indent: int = 2) -> Path:
    path = check_writable(path, overwrite)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=indent, sort_keys=False, default=_json_default)
        handle.write("\n")
    return path


def write_jsonl_atomic(path: str | os.PathLike, rows: list[dict], overwrite: bool = True) -> Path:
    path = check_writable(path, overwrite)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, default=_json_default) + "\n")
    return path


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike) -> Any:
    """Load a JSON file; a syntax error names the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=str(path), line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc.reason}", path=str(path)) from None


def read_jsonl(path: str | os.PathLike, bad: list[tuple[int, str]] | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line; bad lines name file and line.

    With `bad` given, a malformed line is appended to it as (line_number, reason) and skipped,
    so a caller can report every bad line at once instead of stopping at the first.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
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


def read_csv_rows(path: str | os.PathLike, sep: str = "\t") -> Iterator[tuple[int, dict]]:
    """Yield (line_number, row) from a delimited file with a header (open_clip's CSV is tab-separated)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=sep)
        if reader.fieldnames is None:
            raise DataError("empty file (no header)", path=str(path), line=1)
        for row in reader:
            if None in row:
                raise DataError(f"more fields than the header's {len(reader.fieldnames)}", path=str(path), line=reader.line_num)
            yield reader.line_num, row
