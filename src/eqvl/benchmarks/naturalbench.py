"""NaturalBench-Retrieval (Li et al., NeurIPS 2024): natural image pairs with two captions, scored
with image-text similarity as Winoground (text / image / group).

Layout of the released zip (`NaturalBench-Retrieval.zip`, as `naturalbench_retrieval.py` reads it):
`NaturalBench-Retrieval/metadata.json` (`[{index, image_0, image_1, caption_0, caption_1}]`, record k
has index k) + `NaturalBench-Retrieval/images/`. Metrics as its `get_retrieval_acc`: text = s(c0,i0) >
s(c1,i0) and s(c1,i1) > s(c0,i1); image = s(c0,i0) > s(c0,i1) and s(c1,i1) > s(c1,i0); group = both;
strict `>`, plain means over all records. (The VQA variant's `get_scores` scores yes/no answers,
not similarities, so it has no place here.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, layout_error, read_json_keyed, stack_scores
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.benchmarks.twin_rows import TwinFields, json_records, twin_items
from eqvl.benchmarks.twins import twin_results
from eqvl.errors import DataError

FIELDS = TwinFields(images=("image_0", "image_1"), captions=("caption_0", "caption_1"), id="index")


def _metadata(folder: Path) -> Path | None:
    if folder.is_file():
        return folder if folder.suffix == ".json" else None
    for cand in (folder / "metadata.json", folder / "NaturalBench-Retrieval" / "metadata.json"):
        if cand.is_file():
            return cand
    return None


@register_benchmark("naturalbench")
class NaturalBenchBenchmark(Benchmark):
    headline = "group"
    layout = (
        "the unzipped NaturalBench-Retrieval.zip: NaturalBench-Retrieval/metadata.json ([{index, image_0, image_1,\n"
        "  caption_0, caption_1}], record k has index k) + NaturalBench-Retrieval/images/ (--data may be the\n"
        "  NaturalBench-Retrieval folder, its parent, or metadata.json); option image_root= (default: images/ beside it)"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        meta = _metadata(folder)
        return meta is not None and (meta.parent / "images").is_dir()

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["image_root"])
        data_dir = Path(data_dir)
        if not data_dir.exists():
            raise DataError("no such file or folder", path=str(data_dir))
        meta = _metadata(data_dir)
        if meta is None:
            raise layout_error(self.name, data_dir, self.layout)
        images = Path(options["image_root"]) if options.get("image_root") else meta.parent / "images"
        records = list(json_records(meta, read_json_keyed(meta)))
        for path, k, rec in records:  # the official __getitem__ asserts metadata[idx]['index'] == idx
            if rec.get("index") != int(k):
                raise DataError(f"record {k}: index {rec.get('index')!r} should be {k} (records are read by position)",
                                path=str(path), field=f"[{k}].index")
        items = twin_items(records, FIELDS, lambda value, path, where: str(images / str(value)))
        if not items:
            raise DataError("no records", path=str(meta))
        return BenchmarkData(items=items, meta={"source": str(meta), "image_root": str(images)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 2), self.name)
        return twin_results([it.subset for it in data.items], s)
