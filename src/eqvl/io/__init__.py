"""Files in and out, in one place: atomic writes (`atomic`), output guarding — overwrite refusal,
all-outputs-first checks, the run lock — (`guard`), and line-numbered reading (`read`).

Import from `eqvl.io`; the submodules only keep each job in its own short file.
"""

from eqvl.io.atomic import (atomic_open, current_umask, is_storage_full, storage_full, write_json_atomic,
                            write_jsonl_atomic)
from eqvl.io.guard import LOCK_NAME, OutputLock, OutputLockedError, check_outputs, check_writable, pid_alive
from eqvl.io.read import read_csv_rows, read_json, read_jsonl, read_text, text_lines

__all__ = [
    "LOCK_NAME", "OutputLock", "OutputLockedError", "atomic_open", "check_outputs", "check_writable",
    "current_umask", "is_storage_full", "pid_alive", "read_csv_rows", "read_json", "read_jsonl", "read_text",
    "storage_full", "text_lines", "write_json_atomic", "write_jsonl_atomic",
]
