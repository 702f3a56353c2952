"""eqvl's own foil benchmark (`foils.jsonl`): one image, its caption and a foil.

Pairwise accuracy: correct iff s(caption) > s(foil), ties wrong.
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

_KNOWN = {"id", "subset", "image", "caption", "foil"}


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
        root = path.parent
        items: list[ScoreItem] = []
        seen: set[str] = set()
        for line, obj in read_jsonl(path):
            ident = record_id(obj, path, line, seen)
            subset = obj.get("subset", "all")
            if not isinstance(subset, str) or not subset.strip():
                raise DataError("subset must be a non-empty string", path=str(path), line=line, field="subset")
            image = image_ref(root, text_field(obj, "image", path, line))
            captions = [text_field(obj, key, path, line) for key in ("caption", "foil")]
            extra = {k: v for k, v in obj.items() if k not in _KNOWN}
            items.append(ScoreItem(id=ident, images=[image], captions=captions, subset=subset, meta=extra))
        if not items:
            raise DataError("no records", path=str(path))
        return BenchmarkData(items=items, meta={"source": str(path)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 1), self.name)
        return summarize(items_subsets(data.items), {"acc": metrics.pairwise_accuracy(s)})
