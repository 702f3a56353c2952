"""Make the demo's data with `eqvl.synth` (one folder: train.csv, twins.jsonl, triplets.jsonl)."""

from __future__ import annotations

import os
import json
from pathlib import Path
from typing import Any

from eqvl.io import read_jsonl, write_jsonl_atomic

#: synth's attribute twins that swap colour / size between the two objects have the same words in
#: both captions (Winoground-style binding); EqBen's EQ-Kubric attribute split replaces an
#: object's attribute (different words). The demo scores the two kinds as separate subsets.
SWAP_CHANGES = ("swap_colour", "swap_size")
BINDING = "binding"
TWINS_FILE, TRIPLETS_FILE = "twins_demo.jsonl", "triplets_demo.jsonl"


def demo_subset(record: dict[str, Any]) -> str:
    change = record.get("change")
    kind = change.get("change") if isinstance(change, dict) else None
    return BINDING if record.get("subset") == "attribute" and kind in SWAP_CHANGES else record["subset"]


def split_binding(folder: Path) -> dict[str, int]:
    """Write twins_demo.jsonl / triplets_demo.jsonl beside synth's files (which stay untouched),
    with attribute swaps relabelled as subset `binding`; returns twins per demo subset."""
    twins = [rec for _, rec in read_jsonl(folder / "twins.jsonl")]
    by_id = {}
    for rec in twins:
        rec["subset"] = by_id[rec["id"]] = demo_subset(rec)
    triplets = [rec for _, rec in read_jsonl(folder / "triplets.jsonl")]
    for rec in triplets:
        rec["subset"] = by_id.get(rec.get("twin"), rec["subset"])
    write_jsonl_atomic(folder / TWINS_FILE, twins)
    write_jsonl_atomic(folder / TRIPLETS_FILE, triplets)
    counts: dict[str, int] = {}
    for rec in twins:
        counts[rec["subset"]] = counts.get(rec["subset"], 0) + 1
    return json.loads(json.dumps(counts))


def generate(options: dict[str, Any], work: Path, progress: bool = True) -> dict[str, Any]:
    """`options` are SynthConfig fields; returns the counts and the manifest's content hash."""
    from eqvl.synth.config import SynthConfig

    opts = dict(options)
    for key in ("distractors", "counts"):
        if key in opts:
            opts[key] = tuple(opts[key])
    for key in ("subsets", "relations", "categories", "colours", "materials"):
        if key in opts:
            opts[key] = tuple(opts[key])
    cfg = SynthConfig(out=str(work), workers=max(1, min(2, os.cpu_count() or 1)), progress=progress, **opts)
    from eqvl.synth.writer import generate as synth_generate

    manifest = synth_generate(cfg)
    counts = manifest.get("counts", {})
    split = split_binding(work)
    return {
        "twins_file": TWINS_FILE,
        "triplets_file": TRIPLETS_FILE,
        "twins_by_demo_subset": split,
        "n_train": counts.get("train_rows"),
        "twins": counts.get("twins"),
        "triplets": counts.get("triplets"),
        "train_subsets": counts.get("train_subsets"),
        "train_csv": "train.csv",
        "content_hash": manifest.get("content_hash"),
        "image_size": cfg.size,
    }
