"""Step cache for the demo: each step's output lives in `<root>/<step>-<hash of its config>/`.

A step runs into `<dir>.partial/` and is renamed to `<dir>/` only when it finishes, so an
interrupted demo resumes by skipping finished steps and redoing at most the one it was in.
Changing anything a step depends on changes its hash, so a stale result is never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from eqvl.io import write_json_atomic

DONE = "step.json"


def config_hash(obj: Any, length: int = 12) -> str:
    """Stable short hash of a JSON-able object (key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


class StepCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, step: str, key: Any) -> Path:
        return self.root / f"{step}-{config_hash(key)}"

    def seconds(self, step: str, key: Any) -> float | None:
        """How long the step took when it was computed (None for caches written before this was kept)."""
        path = self.path(step, key) / DONE
        if not path.is_file():
            return None
        value = json.loads(path.read_text(encoding="utf-8")).get("seconds")
        return float(value) if isinstance(value, (int, float)) else None

    def is_done(self, step: str, key: Any) -> bool:
        return (self.path(step, key) / DONE).is_file()

    def run(self, step: str, key: Any, fn: Callable[[Path], dict | None]) -> tuple[Path, bool]:
        """Return (folder, reused). `fn(work_dir)` fills `work_dir`; its dict is saved in step.json."""
        final = self.path(step, key)
        if (final / DONE).is_file():
            return final, True
        work = final.with_name(final.name + ".partial")
        if work.exists():
            shutil.rmtree(work)
        if final.exists():  # a folder without its marker: not ours to trust
            shutil.rmtree(final)
        work.mkdir(parents=True)
        t0 = time.perf_counter()
        info = fn(work) or {}
        seconds = time.perf_counter() - t0
        write_json_atomic(work / DONE, {"step": step, "key": key, "info": info, "seconds": seconds})
        os.replace(work, final)
        return final, False
