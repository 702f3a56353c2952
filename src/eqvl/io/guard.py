"""Guarding a run's outputs: never replace a user's file unasked, check every output before
writing any, and lock them for the run.

Two runs on one output folder would otherwise interleave (one run's checkpoint, the other's
metrics). `OutputLock` holds a lock file for the run's lifetime; the lock is an `flock` on that
file, so the kernel drops it when the process dies (kill -9 included) and the next run finds a
stale lock file, says so and takes it over. `check_writable` refuses to replace a single output
file without `overwrite`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterable

from eqvl.errors import EqvlError

log = logging.getLogger(__name__)

#: name of the lock file inside a locked output folder (folder checks should ignore it)
LOCK_NAME = ".eqvl.lock"
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}


class OutputLockedError(EqvlError):
    """Another live run holds the output; the message names its pid, start time and command."""


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse to replace an existing output unless the user said `--overwrite`."""
    path = Path(path)
    if path.is_dir():  # --overwrite cannot help: a file is never written over a folder
        raise EqvlError(f"{path} is a folder, expected a file path")
    if path.exists() and not overwrite:
        raise EqvlError(f"{path} already exists; pass `overwrite` to replace it", params=("overwrite",))
    return path


def _read_only(folder: Path) -> bool:
    """Whether `folder` lies on a file system mounted read-only (EROFS), not merely one we lack rights to."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def check_outputs(paths: Iterable[str | os.PathLike | None], overwrite: bool) -> list[Path]:
    """Check EVERY output before anything is written; one error lists all the problems.

    An existing file needs `overwrite`; a path that is a folder, or whose parent is a file or not
    writable, is refused either way. `None` entries (optional outputs not asked for) are skipped.
    """
    outputs = [Path(p) for p in paths if p is not None]
    existing, problems = [], []
    for path in outputs:
        if path.is_dir():
            problems.append(f"{path} is a folder, expected a file path")
        elif path.exists() and not overwrite:
            existing.append(str(path))
        else:
            parent = _nearest_existing(path.parent)
            if not parent.is_dir():
                problems.append(f"{path}: {parent} is a file, not a folder")
            elif not os.access(parent, os.W_OK | os.X_OK):
                why = "read-only file system" if _read_only(parent) else "permission denied"
                problems.append(f"{path}: cannot write in {parent} ({why})")
    if existing:
        verb = "exists" if len(existing) == 1 else "exist"
        problems.append(f"{', '.join(existing)} already {verb}; pass `overwrite` to replace")
    if problems:
        raise EqvlError("; ".join(problems), params=("overwrite",) if existing else ())
    return outputs


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class OutputLock:
    """Lock an output folder (`OutputLock(folder)`: `<folder>/.eqvl.lock`) or a set of output files
    (`OutputLock([a, b])`: `a.lock`, `b.lock`) for a run's lifetime.

    A second run gets a one-line `OutputLockedError` ("X is locked by pid N since T (command ...)").
    The lock is released on exit, exceptions included; a lock left by a killed run (its flock is
    gone with the process) is taken over with a warning.
    """

    def __init__(self, target: str | os.PathLike | Iterable[str | os.PathLike], command: str | None = None):
        if isinstance(target, (str, os.PathLike)):
            self.targets = [Path(target)]
            self.lock_paths = [Path(target) / LOCK_NAME]
        else:
            self.targets = sorted({Path(p) for p in target})
            self.lock_paths = [p.with_name(p.name + ".lock") for p in self.targets]
        self.command = command if command is not None else _command_line()
        self.taken_over: list[dict] = []
        self._held: list[tuple[int, Path]] = []

    def __enter__(self) -> "OutputLock":
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": self.command}
        payload = (json.dumps(info) + "\n").encode("utf-8")
        try:
            for target, lock_path in zip(self.targets, self.lock_paths):
                self._held.append((_acquire(lock_path, target, payload, self.taken_over), lock_path))
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Remove our lock files (only while they are still ours) and drop the locks."""
        while self._held:
            fd, lock_path = self._held.pop()
            with contextlib.suppress(OSError):
                if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                    os.unlink(lock_path)
            os.close(fd)


def _command_line() -> str:
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return " ".join(["eqvl" if prog in ("__main__.py", "eqvl") else prog, *sys.argv[1:]])


def _acquire(lock_path: Path, target: Path, payload: bytes, taken_over: list[dict]) -> int:
    """Publish a complete lock file (written to a temp file, then linked or renamed into place)
    whose inode we hold an flock on; retry if the path changed under us."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = lock_path.with_name(f"{lock_path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, payload)
            flock_ok = _try_flock(fd)
            try:
                os.link(tmp, lock_path)
                return fd
            except FileExistsError:
                pass
            if _take_over_stale(lock_path, tmp, target, flock_ok, taken_over):
                return fd
        except BaseException:
            os.close(fd)
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        os.close(fd)
    raise EqvlError(f"{target}: could not take the lock {lock_path} (it keeps changing)")


def _take_over_stale(lock_path: Path, tmp: Path, target: Path, flock_ok: bool, taken_over: list[dict]) -> bool:
    """The lock file exists: raise if its holder is alive, else replace it with ours (True).
    False means the file vanished or changed meanwhile: try again."""
    try:
        old = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        holder = _read_info(old)
        if flock_ok:
            if not _try_flock(old):
                raise OutputLockedError(_describe(target, holder, _pid_alive(holder)))
        elif _pid_alive(holder) is not False:  # no flock on this filesystem: trust only a dead local pid
            raise OutputLockedError(_describe(target, holder, _pid_alive(holder)))
        with contextlib.suppress(FileNotFoundError):
            if os.stat(lock_path).st_ino != os.fstat(old).st_ino:
                return False
        os.replace(tmp, lock_path)  # we hold the old inode's lock, so no other taker can be here
    finally:
        os.close(old)
    taken_over.append(holder)
    log.warning("%s: taking over a stale lock left by %s", target, _who(holder))
    return True


def _try_flock(fd: int) -> bool:
    """Lock `fd` exclusively without waiting; False if it is held elsewhere, or if the filesystem
    has no flock (some network mounts), where callers fall back to checking the holder's pid."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return False
        raise


def _read_info(fd: int) -> dict:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _pid_alive(info: dict) -> bool | None:
    """True / False for a lock holder's pid on this host; None when it cannot be known (other host, no pid)."""
    pid = info.get("pid")
    if not isinstance(pid, int) or info.get("host") != socket.gethostname():
        return None
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a local process with this pid exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _who(info: dict) -> str:
    where = "" if info.get("host") in (None, socket.gethostname()) else f" on {info['host']}"
    return f"pid {info.get('pid', '?')}{where} since {info.get('started', '?')} (command {info.get('command', '?')})"


def _describe(target: Path, info: dict, alive: bool | None) -> str:
    note = "" if alive is not False else "; that pid has ended but a process it started still holds the lock"
    return f"{target} is locked by {_who(info)}{note}; wait for it to finish or choose another output"
