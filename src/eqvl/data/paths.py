"""Where a path written in a data file may point: the one resolver every reader uses.

The rule (issue 12.11): a relative path resolves against its data root (the data file's folder,
or the benchmark's image root). A path that lands outside that root (`../../x.png`, or an
absolute path elsewhere) is
- refused with one line when a command runs without `--allow-outside-root`;
- allowed with `--allow-outside-root`, and counted in the run's summary;
- allowed when no policy is active (library calls; the caller owns its inputs).
The check is lexical (`..` and absolute paths), so a symlink the user placed inside the root still
counts as inside. The HTTP service must not take paths from requests at all; this guard is for files.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from eqvl.errors import DataError

#: the parameter that lets paths leave their data root (the CLI shows it as --allow-outside-root)
PARAM = "allow_outside_root"


@dataclass
class RootPolicy:
    """One run's rule for paths outside their data root, and the ones it met."""

    allow_outside: bool = False
    outside: list[tuple[str, str]] = field(default_factory=list)  # (where, resolved path)

    def summary(self) -> str:
        if not self.outside:
            return "0 paths outside their data root"
        where, path = self.outside[0]
        return f"{len(self.outside)} path(s) outside their data root, allowed by `{PARAM}` (first: {where} -> {path})"


_ACTIVE: ContextVar[RootPolicy | None] = ContextVar("eqvl_root_policy", default=None)


@contextlib.contextmanager
def root_policy(allow_outside: bool) -> Iterator[RootPolicy]:
    """Activate a policy for the readers called inside the block (a command's whole run)."""
    policy = RootPolicy(allow_outside)
    token = _ACTIVE.set(policy)
    try:
        yield policy
    finally:
        _ACTIVE.reset(token)


def is_inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether `path` lies under `root`, judged on normalised absolute paths (no symlink resolution)."""
    path, root = os.path.normpath(os.path.abspath(path)), os.path.normpath(os.path.abspath(root))
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_data_path(root: str | os.PathLike, rel: str | os.PathLike, where: str | None = None) -> str:
    """Join a path from a data file to its root (absolute paths stay), applying the active policy.

    `where` names the record ("file:line") in the error and the summary; the root is named otherwise.
    """
    p = Path(rel)
    full = p if p.is_absolute() else Path(root) / p
    policy = _ACTIVE.get()
    if policy is not None and not is_inside(full, root):
        place = where or f"a file under {root}"
        if not policy.allow_outside:
            raise DataError(f"path {str(rel)!r} is outside the data root {root}; pass `{PARAM}` to allow such paths",
                            path=where, params=(PARAM,))
        policy.outside.append((place, str(full)))
    return str(full)
