"""Atomic writes, overwrite protection and line-numbered JSON/JSONL/CSV reading.

Every writer in eqvl goes through here so that an interrupted run never leaves a
half-written result and a user's file is never replaced without `--overwrite`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from eqvl.errors import DataError, EqvlError, StorageFullError
from eqvl.outputs import LOCK_NAME, OutputLock, OutputLockedError, check_outputs

__all__ = [
    "LOCK_NAME", "OutputLock", "OutputLockedError", "atomic_open", "check_outputs", "check_writable",
    "current_umask", "is_storage_full", "read_csv_rows", "read_json", "read_jsonl", "read_text", "storage_full",
    "text_lines", "write_json_atomic", "write_jsonl_atomic",
]


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse to replace an existing output unless the user said `--overwrite`."""
    path = Path(path)
    if path.is_dir():  # --overwrite cannot help: a file is never written over a folder
        raise EqvlError(f"{path} is a folder, expected a file path")
    if path.exists() and not overwrite:
        raise EqvlError(f"{path} already exists; pass --overwrite to replace it")
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[Any]:
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds.

    A full disk (or quota, or file-size limit) becomes one `StorageFullError` naming `path` and
    the bytes the write needed, even when the writer (torch.save, zipfile) wrapped the OSError
    in its own exception; the temporary file is removed either way.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs should get the user's usual mode
    raw = _RawFile(tmp, "w")
    try:
        buffered = io.BufferedWriter(raw)
        handle = buffered if mode == "wb" else io.TextIOWrapper(buffered, **kwargs)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        needed = max(raw.requested, _size(tmp))
        raw.close()
        full = exc if _is_storage_full(exc) else raw.storage_error
        if full is None and isinstance(exc, OSError) and exc.errno is None:
            full = _probe_full(tmp)  # numpy's tofile reports a short write without an errno
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if full is not None:
            raise storage_full(path, full, needed) from None
        raise


class _RawFile(io.FileIO):
    """The OS file under atomic_open's buffers: counts the bytes asked for and remembers a
    storage-full error, which writers such as torch.save re-raise as something else."""

    requested = 0
    storage_error: OSError | None = None

    def write(self, data: Any) -> int | None:
        self.requested += memoryview(data).nbytes
        try:
            return super().write(data)
        except OSError as exc:
            if _is_storage_full(exc):
                self.storage_error = exc
            raise


_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _is_storage_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


def _probe_full(tmp: str) -> OSError | None:
    """After a short write that gave no reason: does appending one byte fail for lack of room?"""
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return None
    try:
        os.write(fd, b"\0")
    except OSError as exc:
        return exc if _is_storage_full(exc) else None
    finally:
        os.close(fd)
    return None


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def storage_full(path: str | os.PathLike, exc: OSError, needed: int | None = None) -> StorageFullError:
    """The one-line error for a write that ran out of room (ENOSPC, EDQUOT, EFBIG)."""
    path = Path(path)
    need = f"needed at least {needed:,} bytes" if needed else "needed more space"
    if exc.errno == errno.EFBIG:
        return StorageFullError(f"cannot write {path}: over the file-size limit (ulimit -f); {need}")
    try:
        free = f"{shutil.disk_usage(_existing_parent(path)).free:,} bytes free there"
    except OSError:
        free = "free space unknown"
    what = "disk quota exceeded" if exc.errno == errno.EDQUOT else "no space left on device"
    return StorageFullError(f"cannot write {path}: {what}; {need}, {free}")


def is_storage_full(exc: BaseException) -> bool:
    """Whether `exc` is a full disk / quota / file-size-limit error (for writers outside atomic_open)."""
    return _is_storage_full(exc)


def _existing_parent(path: Path) -> Path:
    path = path.absolute().parent
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


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
