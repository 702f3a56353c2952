"""BiVLC (Miranda et al. 2024): SugarCrepe's COCO image + caption + hard negative caption, plus a
generated negative image for the negative caption; retrieval both ways.

Released only on the Hub (`imirandam/BiVLC`, split test, 2,933 rows:
`image, caption, negative_caption, negative_image, type, subtype`, images embedded). Scored as
the repository's `evaluate_BiVLC` (src/CLIP_fine_tuning/CLIP_utils.py), strict `>`:
Ipos_2T = s(caption, image) > s(negative_caption, image), Ineg_2T = s(neg_caption, neg_image) >
s(caption, neg_image), Tpos_2I = s(caption, image) > s(caption, neg_image), Tneg_2I =
s(neg_caption, neg_image) > s(neg_caption, image); I2T = both I*, T2I = both T*, group = both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks import hf_tables
from eqvl.benchmarks._common import group_means, stack_scores, summarize
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.benchmarks.twin_rows import TwinFields, load_twin_table

TYPES = ("replace", "swap", "add")
COLUMNS = ("image", "caption", "negative_caption", "negative_image", "type", "subtype")
FIELDS = TwinFields(images=("image", "negative_image"), captions=("caption", "negative_caption"), subset="type",
                    keep=("subtype",))


def bivlc_scores(s: np.ndarray) -> dict[str, np.ndarray]:
    """Per-instance flags of `evaluate_BiVLC` for [N, 2 (caption, negative_caption), 2 (image, negative_image)]."""
    ipos = s[:, 0, 0] > s[:, 1, 0]
    ineg = s[:, 1, 1] > s[:, 0, 1]
    tpos = s[:, 0, 0] > s[:, 0, 1]
    tneg = s[:, 1, 1] > s[:, 1, 0]
    i2t, t2i = ipos & ineg, tpos & tneg
    return {"i2t": i2t, "t2i": t2i, "group": i2t & t2i, "ipos_2t": ipos, "ineg_2t": ineg, "tpos_2i": tpos, "tneg_2i": tneg}


@register_benchmark("bivlc")
class BiVLCBenchmark(Benchmark):
    headline = "group"
    layout = (
        "a local copy of the Hub dataset imirandam/BiVLC: parquet files (data/test-*.parquet, or one .parquet) or a\n"
        "  datasets.save_to_disk folder, columns image, caption, negative_caption, negative_image, type, subtype\n"
        "  (images embedded); options split= (test), extract_dir= (where embedded images are written;\n"
        "  default <data>/eqvl_images)"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return {"negative_caption", "negative_image"} <= hf_tables.table_columns(folder)

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        return load_twin_table(self, data_dir, options, COLUMNS, FIELDS)

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 2), self.name)
        flags = bivlc_scores(s)
        types = [it.subset for it in data.items]
        order = [t for t in TYPES if t in types] + [t for t in dict.fromkeys(types) if t not in TYPES]
        out = summarize(types, flags, order=order)
        subtypes = [f"{it.subset}_{it.meta.get('subtype')}" for it in data.items]
        out["per_subtype"] = group_means(subtypes, flags)
        return out
