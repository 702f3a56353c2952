"""Review decisions: one JSON line per key press, appended, so a session can stop and resume.

    {"id": "<twin id>", "decision": "accept" | "reject" | "undo"}

The last line for an id wins ("undo" forgets it). `eqvl eval --benchmark twins --option
accepted=DIR/review/decisions.jsonl` keeps only the accepted twins.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eqvl.errors import DataError

DECISIONS = ("accept", "reject", "undo")
DEFAULT_FILE = "review/decisions.jsonl"


def read_decisions(path: str | Path) -> dict[str, str]:
    """id -> "accept" | "reject" (latest line wins; undone ids are absent). Missing file: {}."""
    path = Path(path)
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if lineno == len(lines):
                break  # a line cut short by a crash mid-write: ignore the tail
            raise DataError("malformed JSON line", path=str(path), line=lineno) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or obj.get("decision") not in DECISIONS:
            raise DataError('expected {"id": str, "decision": "accept"|"reject"|"undo"}', path=str(path), line=lineno)
        if obj["decision"] == "undo":
            out.pop(obj["id"], None)
        else:
            out[obj["id"]] = obj["decision"]
    return out


def accepted_ids(path: str | Path) -> set[str]:
    if not Path(path).is_file():
        raise DataError("decisions file not found", path=str(path))
    return {k for k, v in read_decisions(path).items() if v == "accept"}


def append_decision(path: str | Path, twin_id: str, decision: str) -> None:
    """Append one decision and fsync it: a key press is never lost, even if the server is killed."""
    if decision not in DECISIONS:
        raise DataError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": twin_id, "decision": decision}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
