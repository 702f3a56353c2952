"""eqvl's own triplet benchmark (`triplets.jsonl`): caption, hard positive, hard negative.

Scored like the hard-positives benchmark: the negative must fall below both the
caption and its meaning-preserving rewrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import check_options, find_file, image_ref, items_subsets, record_id, stack_scores, summarize, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ScoreItem
from eqvl.errors import DataError
from eqvl.io import read_jsonl

_KNOWN = {"id", "subset", "image", "caption", "positive", "negative"}


def triplet_results(subsets: list[str], s: np.ndarray, order: list[str] | None = None) -> dict[str, Any]:
    """orig / aug / joint accuracy and the brittle fraction for [N, 3 (c, c_p, c_n), 1] scores."""
    flags = metrics.hardpos_scores(s)
    out = summarize(subsets, flags, order=order)
    counts = {
        "n": int(s.shape[0]),
        "orig_correct": int(flags["orig_acc"].sum()),
        "aug_correct": int(flags["aug_acc"].sum()),
        "joint_correct": int(flags["joint_acc"].sum()),
        "brittle": int(flags["brittle"].sum()),
    }
    out["counts"] = counts
    return out


@register_benchmark("triplets")
class TripletsBenchmark(Benchmark):
    layout = (
        "triplets.jsonl (or --data pointing at the .jsonl file): one JSON object per line\n"
        '  {"id", "subset", "image", "caption", "positive", "negative", ...extra}\n'
        "  image paths relative to the folder holding the file"
    )

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, [])
        path = find_file(data_dir, ["triplets.jsonl"], self.name, self.layout)
        root = path.parent
        items: list[ScoreItem] = []
        seen: set[str] = set()
        for line, obj in read_jsonl(path):
            ident = record_id(obj, path, line, seen)
            subset = obj.get("subset", "all")
            if not isinstance(subset, str) or not subset.strip():
                raise DataError("subset must be a non-empty string", path=str(path), line=line, field="subset")
            image = image_ref(root, text_field(obj, "image", path, line))
            captions = [text_field(obj, key, path, line) for key in ("caption", "positive", "negative")]
            extra = {k: v for k, v in obj.items() if k not in _KNOWN}
            items.append(ScoreItem(id=ident, images=[image], captions=captions, subset=subset, meta=extra))
        if not items:
            raise DataError("no records", path=str(path))
        return BenchmarkData(items=items, meta={"source": str(path)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (3, 1), self.name)
        return triplet_results(items_subsets(data.items), s)
