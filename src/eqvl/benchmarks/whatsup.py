"""What'sUp (Kamath et al., EMNLP 2023): spatial prepositions. Controlled-A / Controlled-B photograph
the same two objects in four arrangements (one image each, four captions, the first true); the
COCO-QA / VG-QA sets pair a real image with its true and its opposite-preposition caption.

Scored as `evaluate_scores` in the repository's `dataset_zoo/aro_datasets.py`: an item is right
when `np.argmax` over its caption scores is 0, so a tie with the true caption counts as RIGHT
(argmax returns the first maximum; `ties=strict` counts it wrong, as eqvl's other readers do).
Controlled sets also get pair accuracy (left+right, on+under / in-front+behind both right, over
N/2) and set accuracy (all four right, over N/4), the object pair read from the file name.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, chosen_subsets, layout_error, summarize
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_json

#: subset -> (annotation file, image folder)
FILES = OrderedDict([
    ("controlled_a", ("controlled_images_dataset.json", "controlled_images")),
    ("controlled_b", ("controlled_clevr_dataset.json", "controlled_clevr")),
    ("coco_qa_one", ("coco_qa_one_obj.json", "val2017")),
    ("coco_qa_two", ("coco_qa_two_obj.json", "val2017")),
    ("vg_qa_one", ("vg_qa_one_obj.json", "vg_images")),
    ("vg_qa_two", ("vg_qa_two_obj.json", "vg_images")),
])
#: Table 1 of the paper: macro-averages of these subset pairs
GROUPS = {"controlled": ("controlled_a", "controlled_b"), "coco_qa": ("coco_qa_one", "coco_qa_two"), "vg_qa": ("vg_qa_one", "vg_qa_two")}


def controlled_key(image_path: str) -> tuple[tuple[str, str], str]:
    """((object 1, object 2), preposition key) from a file name like `mug_left_of_plate.jpeg`, as the official code splits it."""
    name = image_path.split("/")[-1]
    parts = name.split("_")
    return (parts[0], parts[-1][:-5]), parts[1]


def preposition(subset: str, rec: Any) -> str:
    """The per-preposition group `evaluate_scores` reports for one record."""
    if subset.startswith("controlled"):
        path = rec["image_path"]
        for key in ("left_of", "right_of", "_on_" if subset == "controlled_a" else "_in-front_of_"):
            if key in path:
                return key.strip("_")
        return "under" if subset == "controlled_a" else "behind"
    true = rec[1]
    if subset.endswith("_one"):
        return true.split()[-1]
    rules = [("left of", "left"), ("right of", "right")]
    rules += [("above", "above")] if subset.startswith("coco") else [("front of", "front"), ("behind", "behind")]
    return next((name for text, name in rules if text in true), "below" if subset.startswith("coco") else "top")


def _controlled_image(root: Path, folder: str, image_path: str, image_root: str | None) -> str:
    if image_root:
        return str(Path(image_root) / image_path.split("/")[-1])
    if os.path.isabs(image_path):
        return image_path
    for cand in (root / image_path, root.parent / image_path):
        if cand.exists():
            return str(cand)
    return str(root / folder / image_path.split("/")[-1])


def read_subset(path: Path, subset: str, root: Path, image_root: str | None) -> list[ScoreItem]:
    ann = read_json(path)
    if not isinstance(ann, list) or not ann:
        raise DataError("expected a non-empty JSON list", path=str(path))
    folder = FILES[subset][1]
    items = []
    for k, rec in enumerate(ann):
        if subset.startswith("controlled"):
            if not isinstance(rec, dict) or not isinstance(rec.get("image_path"), str):
                raise DataError("expected {image_path, caption_options}", path=str(path), field=f"[{k}].image_path")
            caps = rec.get("caption_options")
            img = _controlled_image(root, folder, rec["image_path"], image_root)
            meta = {"pair": controlled_key(rec["image_path"])[0], "prep_key": controlled_key(rec["image_path"])[1]}
        else:
            if not isinstance(rec, list) or len(rec) != 3 or not isinstance(rec[0], (int, str)):
                raise DataError("expected [image_id, true_caption, false_caption]", path=str(path), field=f"[{k}]")
            caps = rec[1:]
            name = f"{str(rec[0]).zfill(12)}.jpg" if subset.startswith("coco") else f"{rec[0]}.jpg"
            img = str(Path(image_root or root / folder) / name)
            meta = {}
        if not isinstance(caps, list) or len(caps) < 2 or not all(isinstance(c, str) and c.strip() for c in caps):
            raise DataError("expected >= 2 non-empty captions, the first true", path=str(path), field=f"[{k}].caption_options")
        meta["preposition"] = preposition(subset, rec)
        items.append(ScoreItem(id=f"{subset}/{k}", images=[ImageRef(img)], captions=list(caps), subset=subset, meta=meta))
    return items


@register_benchmark("whatsup")
class WhatsUpBenchmark(Benchmark):
    reads_subsets = True
    headline = "acc"
    layout = (
        "a folder (the repo's data/) with any of controlled_images_dataset.json + controlled_images/,\n"
        "  controlled_clevr_dataset.json + controlled_clevr/ ([{image_path, caption_options}], first option true),\n"
        "  coco_qa_one_obj.json, coco_qa_two_obj.json + val2017/<id:012>.jpg, vg_qa_one_obj.json, vg_qa_two_obj.json +\n"
        "  vg_images/<id>.jpg ([[image_id, true, false]]); options subset=controlled_a,..., image_root=, ties=argmax|strict"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return any((folder / f).is_file() for f, _ in FILES.values())

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["subset", "image_root", "ties"])
        root = Path(data_dir)
        if not root.is_dir():
            raise DataError("expected the What'sUp data folder", path=str(root))
        ties = str(options.get("ties", "argmax"))
        if ties not in ("argmax", "strict"):
            raise EqvlError(f"whatsup: ties={ties}: expected argmax (official) or strict")
        found = [s for s, (f, _) in FILES.items() if (root / f).is_file()]
        if not found:
            raise layout_error(self.name, root, self.layout)
        if options.get("subset"):
            wanted = chosen_subsets(self.name, options["subset"], list(FILES))
            missing = [FILES[s][0] for s in wanted if s not in found]
            if missing:
                raise DataError(f"missing {', '.join(missing)}; expected:\n{self.layout}", path=str(root))
            found = list(wanted)
        items = [it for s in found for it in read_subset(root / FILES[s][0], s, root, options.get("image_root"))]
        return BenchmarkData(items=items, meta={"subsets": found, "ties": ties})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        if len(scores) != len(data.items):
            raise EqvlError(f"whatsup: got {len(scores)} score arrays for {len(data.items)} items")
        strict = data.meta.get("ties") == "strict"
        correct = np.zeros(len(data.items), dtype=bool)
        for k, (item, s) in enumerate(zip(data.items, scores)):
            col = np.asarray(s, dtype=np.float64).reshape(len(item.captions))
            correct[k] = col[0] > col[1:].max() if strict else int(np.argmax(col)) == 0
        subsets = [it.subset for it in data.items]
        out = summarize(subsets, {"acc": correct}, order=list(FILES))
        for name, entry in out["subsets"].items():
            idx = [k for k, s in enumerate(subsets) if s == name]
            preps = [data.items[k].meta["preposition"] for k in idx]
            entry["prepositions"] = {p: v for p, v in summarize(preps, {"acc": correct[idx]}, order=sorted(set(preps)))["subsets"].items()}
            if name.startswith("controlled"):
                entry.update(pair_set_accuracy([data.items[k] for k in idx], correct[idx], name))
        out["metrics"] = {"acc": float(np.mean([e["acc"] for e in out["subsets"].values()]))}
        for group, members in GROUPS.items():
            have = [out["subsets"][m]["acc"] for m in members if m in out["subsets"]]
            if have:
                out["metrics"][group] = float(np.mean(have))
        for name, entry in out["subsets"].items():
            for key in ("acc", "pair_acc", "set_acc"):
                if key in entry:
                    out["metrics"][f"{name}_{key}"] = entry[key]
        return out


def pair_set_accuracy(items: list[ScoreItem], correct: np.ndarray, subset: str) -> dict[str, float]:
    """evaluate_scores' pair / set accuracy: per object pair, its four prepositions' correctness."""
    second = ("on", "under") if subset == "controlled_a" else ("in-front", "behind")
    table: dict[tuple[str, str], dict[str, bool]] = OrderedDict()
    for item, ok in zip(items, correct):
        table.setdefault(item.meta["pair"], {"left": False, "right": False, second[0]: False, second[1]: False})
        table[item.meta["pair"]][item.meta["prep_key"]] = bool(ok)
    pair = sum(int(d["left"] and d["right"]) + int(d[second[0]] and d[second[1]]) for d in table.values())
    full = sum(int(sum(d.values()) == 4) for d in table.values())
    return {"pair_acc": pair / (len(items) / 2), "set_acc": full / (len(items) / 4)}
