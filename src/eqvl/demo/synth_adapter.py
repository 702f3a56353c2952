"""Make the demo's data with `eqvl.synth` (one folder: train.csv, twins.jsonl, triplets.jsonl)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


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
    return {
        "n_train": counts.get("train_rows"),
        "twins": counts.get("twins"),
        "triplets": counts.get("triplets"),
        "train_subsets": counts.get("train_subsets"),
        "train_csv": "train.csv",
        "content_hash": manifest.get("content_hash"),
        "image_size": cfg.size,
    }
