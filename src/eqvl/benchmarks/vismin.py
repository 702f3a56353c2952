"""VisMin (Awal et al. 2024): minimal-change twins (object, attribute, count, spatial relation) of
real and edited images; text / image / group per category as `vismin-bench/metric.py` computes them.

Released on the Hub (`mair-lab/vismin-bench`, split test): columns `id, text_0, text_1, image_0,
image_1, category` (images embedded), read from a local parquet or `save_to_disk` copy as the
official `eval.py` reads it (`load_from_disk(...)["test"]`). The submission's four scores are
T0_I0 = s(text_0, image_0), T0_I1, T1_I0, T1_I1; `compute_contrastive_accuracy` then counts, per
category, text = T0_I0 > T1_I0 and T1_I1 > T0_I1, image = T0_I0 > T0_I1 and T1_I1 > T1_I0 (strict).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks import hf_tables
from eqvl.benchmarks._common import stack_scores
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.benchmarks.twin_rows import TwinFields, load_twin_table
from eqvl.benchmarks.twins import twin_results

COLUMNS = ("id", "text_0", "text_1", "image_0", "image_1", "category")
FIELDS = TwinFields(images=("image_0", "image_1"), captions=("text_0", "text_1"), subset="category", id="id")


@register_benchmark("vismin")
class VisMinBenchmark(Benchmark):
    headline = "group"
    layout = (
        "a local copy of the Hub dataset mair-lab/vismin-bench: parquet files (data/test-*.parquet, or one .parquet)\n"
        "  or a datasets.save_to_disk folder, columns id, text_0, text_1, image_0, image_1, category (images\n"
        "  embedded); options split= (test), extract_dir= (default <data>/eqvl_images)"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return {"text_0", "text_1", "image_0", "image_1", "category"} <= hf_tables.table_columns(folder)

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        return load_twin_table(self, data_dir, options, COLUMNS, FIELDS)

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 2), self.name)
        out = twin_results([it.subset for it in data.items], s)  # per category: metric.py's numbers (as fractions)
        for key in ("text", "image", "group"):  # metric.py reports categories only; overall = pooled, *_macro = mean over categories
            per = [v[key] for v in out["subsets"].values()]
            out["metrics"][f"{key}_macro"] = float(np.mean(per)) if per else float("nan")
        return out

