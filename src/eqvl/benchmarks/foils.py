"""eqvl's own foil benchmark (`foils.jsonl`): one image, its caption and a foil.

Pairwise accuracy: correct iff s(caption) > s(foil), ties wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import check_options, find_file, items_subsets, read_own_jsonl, stack_scores, summarize
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark


@register_benchmark("foils")
class FoilsBenchmark(Benchmark):
    layout = (
        "foils.jsonl (or --data pointing at the .jsonl file): one JSON object per line\n"
        '  {"id", "subset", "image", "caption", "foil", ...extra}\n'
        "  image paths relative to the folder holding the file"
    )

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, [])
        path = find_file(data_dir, ["foils.jsonl"], self.name, self.layout)
        items = read_own_jsonl(path, ("image",), ("caption", "foil"))
        return BenchmarkData(items=items, meta={"source": str(path)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 1), self.name)
        return summarize(items_subsets(data.items), {"acc": metrics.pairwise_accuracy(s)})
