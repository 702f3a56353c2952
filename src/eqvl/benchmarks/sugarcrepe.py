"""SugarCrepe: COCO val2017 images, each with its caption and a fluent hard negative
made by replacing, swapping or adding an object / attribute / relation.

Correct iff s(caption) > s(negative_caption). Reported per subset (the seven files),
micro-averaged per category (replace / swap / add) and overall.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import read_json_keyed, check_options, chosen_subsets, layout_error, stack_scores, summarize, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError

SUBSETS = ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att")
CATEGORIES = ("replace", "swap", "add")


def _default_image_root(folder: Path) -> Path:
    for cand in (folder / "val2017", folder / "coco" / "val2017", folder.parent / "val2017"):
        if cand.is_dir():
            return cand
    return folder


@register_benchmark("sugarcrepe")
class SugarCrepeBenchmark(Benchmark):
    reads_subsets = True
    layout = (
        "a folder (or its data/ subfolder) with add_att.json, add_obj.json, replace_att.json, replace_obj.json,\n"
        "  replace_rel.json, swap_att.json, swap_obj.json: {\"<idx>\": {filename, caption, negative_caption}};\n"
        "  images at <coco>/val2017/<filename>: coco_root=<coco> or image_root=<val2017 folder>\n"
        "  (default: <data>/val2017, <data>/coco/val2017, then <data>); subset=replace_obj,... picks files"
    )

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["image_root", "coco_root", "subset"])
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError("expected a folder holding the SugarCrepe JSON files", path=str(data_dir))
        folder = data_dir
        if not any((folder / f"{s}.json").is_file() for s in SUBSETS) and (data_dir / "data").is_dir():
            folder = data_dir / "data"
        if not any((folder / f"{s}.json").is_file() for s in SUBSETS):
            raise layout_error(self.name, data_dir, self.layout)
        wanted = chosen_subsets(self.name, options.get("subset"), SUBSETS)
        missing = [f"{s}.json" for s in wanted if not (folder / f"{s}.json").is_file()]
        if missing:
            raise DataError(f"missing {', '.join(missing)} (pass subset= to evaluate only some files)", path=str(folder))
        if options.get("image_root"):
            root = Path(options["image_root"])
        elif options.get("coco_root"):
            root = Path(options["coco_root"]) / "val2017"
        else:
            root = _default_image_root(data_dir)
        items: list[ScoreItem] = []
        for subset in wanted:
            path = folder / f"{subset}.json"
            ann = read_json_keyed(path)
            if not isinstance(ann, dict):
                raise DataError(f"expected an object keyed by index, got {type(ann).__name__}", path=str(path))
            for key, rec in ann.items():
                where = f"[{key!r}]."
                if not isinstance(rec, dict):
                    raise DataError("expected an object {filename, caption, negative_caption}", path=str(path), field=f"[{key!r}]")
                filename = text_field(rec, "filename", path, where=where)
                caps = [text_field(rec, "caption", path, where=where), text_field(rec, "negative_caption", path, where=where)]
                items.append(ScoreItem(id=f"{subset}/{key}", images=[ImageRef(str(root / filename))], captions=caps, subset=subset))
            if not ann:
                raise DataError("no examples", path=str(path))
        return BenchmarkData(items=items, meta={"source": str(folder), "image_root": str(root)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 1), self.name)
        correct = metrics.pairwise_accuracy(s)
        subsets = [it.subset for it in data.items]
        out = summarize(subsets, {"acc": correct}, order=list(SUBSETS))
        cats = [sub.split("_", 1)[0] for sub in subsets]
        per_cat = summarize(cats, {"acc": correct}, order=list(CATEGORIES))["subsets"]
        out["categories"] = per_cat
        for cat, vals in per_cat.items():
            out["metrics"][f"{cat}_acc"] = vals["acc"]
        return out
