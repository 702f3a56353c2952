"""eqvl's own triplet benchmark (`triplets.jsonl`): caption, hard positive, hard negative.

Scored like the hard-positives benchmark: the negative must fall below both the
caption and its meaning-preserving rewrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import check_options, find_file, items_subsets, read_own_jsonl, stack_scores, summarize
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark


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
        items = read_own_jsonl(path, ("image",), ("caption", "positive", "negative"))
        return BenchmarkData(items=items, meta={"source": str(path)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (3, 1), self.name)
        return triplet_results(items_subsets(data.items), s)
