"""eqvl's own twin benchmark (`twins.jsonl`, written by `eqvl synth`).

Each line is a Winoground-style 2x2 item, so it is scored with Winoground's
text / image / group metrics plus EqSim's equivariance gaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import check_options, find_file, items_subsets, read_own_jsonl, stack_scores, summarize
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ScoreItem
from eqvl.errors import DataError

def read_twins(path: Path) -> list[ScoreItem]:
    """Parse a twins.jsonl file; image paths are relative to its folder."""
    return read_own_jsonl(path, ("image_0", "image_1"), ("caption_0", "caption_1"))


def twin_results(subsets: list[str], s: np.ndarray, order: list[str] | None = None) -> dict[str, Any]:
    """Winoground flags + equivariance means for [N, 2, 2] scores, overall and per subset."""
    flags = metrics.winoground_scores(s)
    eq = metrics.equivariance_scores(s)
    return summarize(
        subsets,
        flags,
        {"equivariance_text_mean": eq["text"], "equivariance_image_mean": eq["image"]},
        order=order,
    )


@register_benchmark("twins")
class TwinsBenchmark(Benchmark):
    layout = (
        "twins.jsonl (or --data pointing at the .jsonl file): one JSON object per line\n"
        '  {"id", "subset", "image_0", "image_1", "caption_0", "caption_1", ...extra}\n'
        "  image paths relative to the folder holding the file; option accepted=decisions.jsonl (eqvl build review)"
    )

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["accepted"])
        path = find_file(data_dir, ["twins.jsonl"], self.name, self.layout)
        items = read_twins(path)
        if options.get("accepted"):  # `eqvl build review` decisions: keep the accepted twins only
            from eqvl.data.decisions import accepted_ids

            keep = accepted_ids(options["accepted"])
            items = [it for it in items if it.id in keep]
            if not items:
                raise DataError(f"no twin of this file is accepted in {options['accepted']}", path=str(path))
        return BenchmarkData(items=items, meta={"source": str(path)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 2), self.name)
        return twin_results(items_subsets(data.items), s)
