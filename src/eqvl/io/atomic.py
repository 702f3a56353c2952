"""Atomic writes: a result file appears whole or not at all, and a full disk is one clear error.

Every writer in eqvl goes through `atomic_open` (a temporary file beside the target, renamed over
it only when the block succeeds) so that an interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, TypeGuard

from eqvl.errors import StorageFullError
from eqvl.io.guard import check_writable

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

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

    def write(self, data: ReadableBuffer, /) -> int:
        self.requested += memoryview(data).nbytes
        try:
            return super().write(data)
        except OSError as exc:
            if _is_storage_full(exc):
                self.storage_error = exc
            raise

#: errno values that mean "no room": disk full, quota exceeded, file-size limit
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _is_storage_full(exc: BaseException) -> TypeGuard[OSError]:
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

def is_storage_full(exc: BaseException) -> TypeGuard[OSError]:
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
