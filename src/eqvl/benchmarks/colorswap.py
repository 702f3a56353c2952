"""ColorSwap (Burapacheep et al. 2024): 1,000 twins whose two captions hold the same words with the
colour words swapped between objects; scored as Winoground (text / image / group).

Two releases: the Drive archive (`test.json`, `train.json` lists of
`{id, caption_1, caption_2, image_1: "images/img_0_1.png", image_2, image_source, caption_source}`
+ the unzipped `images/`) and the Hub copy `stanfordnlp/colorswap` (parquet or `save_to_disk`, the
images embedded). caption_1 belongs to image_1. The held-out test split (300 twins) is the
default; train (700) is for fine-tuning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks import hf_tables
from eqvl.benchmarks._common import check_options, group_means, layout_error, read_json_keyed, stack_scores
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.benchmarks.twin_rows import TwinFields, cell_path, json_records, table_records, twin_items
from eqvl.benchmarks.twins import twin_results
from eqvl import metrics
from eqvl.errors import DataError, EqvlError

SPLITS = ("test", "train")
FIELDS = TwinFields(images=("image_1", "image_2"), captions=("caption_1", "caption_2"), id="id",
                    keep=("image_source", "caption_source"))


@register_benchmark("colorswap")
class ColorSwapBenchmark(Benchmark):
    headline = "group"
    layout = (
        "test.json / train.json ([{id, caption_1, caption_2, image_1: \"images/img_0_1.png\", image_2, image_source,\n"
        "  caption_source}], image paths relative to the file's folder; also in data/), or a local copy of the Hub\n"
        "  dataset stanfordnlp/colorswap (parquet files or a datasets.save_to_disk folder, images embedded);\n"
        "  options split=test|train|all (test), image_root=, extract_dir= (where embedded images are written;\n"
        "  default <data>/eqvl_images)"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        for path in (folder / "test.json", folder / "data" / "test.json"):
            if path.is_file():
                with open(path, encoding="utf-8", errors="replace") as handle:
                    head = handle.read(4096)
                return '"caption_1"' in head and '"image_2"' in head
        return set(FIELDS.images + FIELDS.captions) <= hf_tables.table_columns(folder)

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["split", "image_root", "extract_dir"])
        data_dir = Path(data_dir)
        if not data_dir.exists():
            raise DataError("no such file or folder", path=str(data_dir))
        split = str(options.get("split") or "test")
        if split not in (*SPLITS, "all"):
            raise EqvlError(f"colorswap: unknown split {split!r}; valid: test, train, all")
        wanted = SPLITS if split == "all" else (split,)
        if data_dir.is_file() and data_dir.suffix == ".json":  # one split's file: its name says which
            wanted = (data_dir.stem if data_dir.stem in SPLITS else wanted[0],)
        extract = Path(options.get("extract_dir") or (data_dir if data_dir.is_dir() else data_dir.parent) / hf_tables.EXTRACT_DIRNAME)
        items = []
        for name in wanted:
            items += self._read_split(data_dir, name, options.get("image_root"), extract)
        return BenchmarkData(items=items, meta={"source": str(data_dir), "split": split})

    def _read_split(self, data_dir: Path, split: str, image_root: str | None, extract: Path):
        json_path = _json_file(data_dir, split)
        if json_path is not None:
            base = Path(image_root) if image_root else json_path.parent
            records = json_records(json_path, read_json_keyed(json_path))
        elif hf_tables.is_table_copy(data_dir):
            files = hf_tables.table_files(data_dir, split)
            if not files:
                raise DataError(f"no {split} split in this dataset copy (parquet <split>-*.parquet or save_to_disk "
                                f"<split>/ folder)", path=str(data_dir))
            base = Path(image_root) if image_root else (data_dir if data_dir.is_dir() else data_dir.parent)
            records = table_records(files, ["id", *FIELDS.images, *FIELDS.captions, *FIELDS.keep])
        else:
            raise layout_error(self.name, data_dir, self.layout)
        items = twin_items(records, FIELDS, cell_path(extract, base), id_prefix=f"{split}/")
        for it in items:
            it.subset = split
        if not items:
            raise DataError(f"no records in the {split} split", path=str(data_dir))
        return items

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 2), self.name)
        out = twin_results([it.subset for it in data.items], s)
        flags = metrics.winoground_scores(s)
        for key in ("image_source", "caption_source"):
            values = [str(it.meta.get(key) or "unknown") for it in data.items]
            out[f"per_{key}"] = group_means(values, flags)
        return out


def _json_file(data_dir: Path, split: str) -> Path | None:
    if data_dir.is_file():
        return data_dir if data_dir.suffix == ".json" else None
    return next((p for p in (data_dir / f"{split}.json", data_dir / "data" / f"{split}.json") if p.is_file()), None)
