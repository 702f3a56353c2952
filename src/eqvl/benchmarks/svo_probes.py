"""SVO-Probes (Hendricks & Nematzadeh, 2021): a sentence with a positive image and a negative image
that differs in its subject, verb or object.

The release's notebook scores a matching CLASSIFIER: each (sentence, image) pair is predicted 1 or 0,
positive accuracy over the unique (sentence, positive image) pairs, negative accuracy over the unique
(sentence, negative image) pairs, their mean ("Avg Accuracy"), for rows with exactly one of
`subj_neg` / `verb_neg` / `obj_neg` set. A similarity model has no such decision, so eqvl's headline
is the pairwise form: the positive image must score above the negative image for the sentence
(strict), per negative type and over all three. With a probability scorer the notebook's
Avg / Pos / Neg accuracies (threshold 0.5) are added. Images are local files (the CSV lists URLs):
`<image_root>/<image_id>.jpg` (or .jpeg / .png), or a mapping file; the notebook drops rows it has
no scores for, and eqvl drops rows whose image file is missing the same way, counting them
(`missing_images=error` hands them to the engine instead).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, layout_error, stack_scores, summarize
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_text

TYPES = ("subj", "verb", "obj")
COLUMNS = ("sentence", "pos_image_id", "neg_image_id", "subj_neg", "verb_neg", "obj_neg")
SUFFIXES = (".jpg", ".jpeg", ".png")


def _flag(value: str, path: Path, line: int, field: str) -> bool:
    text = value.strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise DataError(f"expected True/False, got {value!r}", path=str(path), line=line, field=field)


class ImageFinder:
    """image id (or URL) -> local path: a mapping file first, else <root>/<id><suffix>."""

    def __init__(self, root: Path, mapping: str | None):
        self.root, self.map = root, {}
        if mapping:
            obj = json.loads(read_text(mapping))
            if not isinstance(obj, dict):
                raise DataError("expected a JSON object {image_id or url: path}", path=mapping)
            self.map = {str(k): str(v) for k, v in obj.items()}
            self.base = Path(mapping).parent

    def __call__(self, image_id: str, url: str) -> str:
        for key in (image_id, url):
            if key and key in self.map:
                return str(self.base / self.map[key]) if not os.path.isabs(self.map[key]) else self.map[key]
        for suffix in SUFFIXES:
            cand = self.root / f"{image_id}{suffix}"
            if cand.exists():
                return str(cand)
        return str(self.root / f"{image_id}.jpg")


def read_rows(path: Path, find: ImageFinder, skip_missing: bool) -> tuple[list[ScoreItem], int, int]:
    """Items of the rows with exactly one negative type; (items, rows of other types, rows without images)."""
    reader = csv.DictReader(read_text(path).splitlines())
    missing_cols = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing_cols:
        raise DataError(f"missing column(s) {', '.join(missing_cols)}", path=str(path), line=1)
    items, other, dropped = [], 0, 0
    for k, row in enumerate(reader):
        line = k + 2
        flags = {t: _flag(row[f"{t}_neg"], path, line, f"{t}_neg") for t in TYPES}
        if sum(flags.values()) != 1:
            other += 1  # the notebook's three frames keep only rows with exactly one type
            continue
        sentence = row["sentence"]
        if not sentence.strip():
            raise DataError("empty sentence", path=str(path), line=line, field="sentence")
        ids = []
        for side in ("pos", "neg"):
            raw = row[f"{side}_image_id"].strip()
            try:
                ids.append(str(int(float(raw))))
            except ValueError:
                raise DataError(f"image id {raw!r} is not a number", path=str(path), line=line, field=f"{side}_image_id") from None
        paths = [find(ids[0], row.get("pos_url", "")), find(ids[1], row.get("neg_url", ""))]
        if skip_missing and not all(os.path.exists(p) for p in paths):
            dropped += 1
            continue
        neg_type = next(t for t in TYPES if flags[t])
        items.append(ScoreItem(id=f"row{k}", images=[ImageRef(p) for p in paths], captions=[sentence], subset=neg_type,
                               meta={"image_ids": tuple(ids)}))
    return items, other, dropped


@register_benchmark("svo-probes")
class SVOProbesBenchmark(Benchmark):
    headline = "acc"
    layout = (
        "svo_probes.csv (or --data pointing at it): sentence, pos_triplet, neg_triplet, subj_neg, verb_neg, obj_neg,\n"
        "  pos_url, neg_url, pos_image_id, neg_image_id; images at <image_root>/<image_id>.jpg (.jpeg, .png; default\n"
        "  <data>/images) or image_map=FILE.json ({image_id or url: path}); missing_images=skip (rows dropped, counted) | error"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return (folder / "svo_probes.csv").is_file()

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["image_root", "image_map", "missing_images"])
        root = Path(data_dir)
        path = root if root.is_file() else root / "svo_probes.csv"
        if not path.is_file():
            if not root.exists():
                raise DataError("no such file or folder", path=str(root))
            raise layout_error(self.name, root, self.layout)
        mode = str(options.get("missing_images", "skip"))
        if mode not in ("skip", "error"):
            raise EqvlError(f"svo-probes: missing_images={mode}: expected skip or error")
        image_root = Path(options["image_root"]) if options.get("image_root") else path.parent / "images"
        items, other, dropped = read_rows(path, ImageFinder(image_root, options.get("image_map")), mode == "skip")
        if not items:
            raise DataError(f"no row with both images under {image_root} (see the layout: eqvl benchmarks)", path=str(path))
        return BenchmarkData(items=items, meta={"rows_other_types": other, "missing_images": dropped, "image_root": str(image_root)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (1, 2), self.name)
        correct = s[:, 0, 0] > s[:, 0, 1]
        subsets = [it.subset for it in data.items]
        out = summarize(subsets, {"acc": correct}, order=list(TYPES))
        for t in TYPES:
            if t in out["subsets"]:
                out["metrics"][f"{t}_acc"] = out["subsets"][t]["acc"]
        if data.score_kind == "probability":
            out["notebook"] = {t: notebook_accuracy([it for it in data.items if it.subset == t], s[np.array(subsets) == t])
                               for t in TYPES if t in subsets}
            out["notebook"]["all"] = notebook_accuracy(data.items, s)
            out["metrics"]["notebook_avg_acc"] = out["notebook"]["all"]["avg_acc"]
        out["rows_other_types"] = data.meta.get("rows_other_types", 0)
        out["missing_images"] = data.meta.get("missing_images", 0)
        return out


def notebook_accuracy(items: list[ScoreItem], s: np.ndarray) -> dict[str, float]:
    """The notebook's `accuracy`: unique (sentence, image) pairs, match = probability > 0.5."""
    pos = {(it.captions[0], it.meta["image_ids"][0]): s[k, 0, 0] > 0.5 for k, it in enumerate(items)}
    neg = {(it.captions[0], it.meta["image_ids"][1]): s[k, 0, 1] <= 0.5 for k, it in enumerate(items)}
    pos_acc, neg_acc = float(np.mean(list(pos.values()))), float(np.mean(list(neg.values())))
    return {"avg_acc": (pos_acc + neg_acc) / 2, "pos_acc": pos_acc, "neg_acc": neg_acc}
