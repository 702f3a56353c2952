"""SugarCrepe++ (Dumpala et al., 2024): SugarCrepe's replace / swap sets with a second, lexically
different positive caption, so a model must keep two paraphrases above one near-copy negative.

Scored as the repository's `VLMs/test_*.py` scripts do, per file: image-to-text (ITT) is right
when both positives beat the negative on the image (`cos_p1 > cos_neg and cos_p2 > cos_neg`,
strict), `Image-P1-Neg` / `Image-P2-Neg` each alone; the text-only task (TOT) is right when the two
positives are closer to each other than either is to the negative (text-text cosine, a dual
encoder's caption embeddings; a pair scorer has none, so TOT is left out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import check_options, chosen_subsets, layout_error, stack_scores, summarize, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError
from eqvl.io import read_json

SUBSETS = ("replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
CATEGORIES = ("replace", "swap")


def _folder(data_dir: Path) -> Path | None:
    for cand in (data_dir, data_dir / "data"):
        if any((cand / f"{s}.json").is_file() for s in SUBSETS):
            return cand
    return None


def _image_root(data_dir: Path, options: dict[str, Any]) -> Path:
    if options.get("image_root"):
        return Path(options["image_root"])
    if options.get("coco_root"):
        return Path(options["coco_root"]) / "val2017"
    for cand in (data_dir / "images", data_dir / "val2017", data_dir / "coco" / "val2017", data_dir.parent / "val2017"):
        if cand.is_dir():
            return cand
    return data_dir / "images"


def read_subset(path: Path, subset: str, root: Path) -> list[ScoreItem]:
    """One file: a JSON list of {id, filename, caption, caption2, negative_caption}."""
    ann = read_json(path)
    if not isinstance(ann, list):
        raise DataError(f"expected a JSON list of records, got {type(ann).__name__}", path=str(path))
    items = []
    for k, rec in enumerate(ann):
        if not isinstance(rec, dict):
            raise DataError("expected an object {id, filename, caption, caption2, negative_caption}", path=str(path), field=f"[{k}]")
        where = f"[{k}]."
        caps = [text_field(rec, key, path, where=where) for key in ("caption", "caption2", "negative_caption")]
        filename = text_field(rec, "filename", path, where=where)
        ident = f"{subset}/{rec.get('id', k)}"
        items.append(ScoreItem(id=ident, images=[ImageRef(str(root / filename))], captions=caps, subset=subset))
    if not items:
        raise DataError("no records", path=str(path))
    if len({it.id for it in items}) != len(items):
        raise DataError("duplicate id", path=str(path), field="id")
    return items


def text_only(items: list[ScoreItem], emb: dict[str, np.ndarray]) -> np.ndarray:
    """TOT per item: cos(p1, p2) > cos(p1, neg) and cos(p1, p2) > cos(p2, neg)."""
    p1 = np.stack([emb[it.captions[0]] for it in items])
    p2 = np.stack([emb[it.captions[1]] for it in items])
    neg = np.stack([emb[it.captions[2]] for it in items])
    p1p2, p1n, p2n = (p1 * p2).sum(1), (p1 * neg).sum(1), (p2 * neg).sum(1)
    return (p1p2 > p1n) & (p1p2 > p2n)


@register_benchmark("sugarcrepe++")
class SugarCrepePPBenchmark(Benchmark):
    reads_subsets = True
    text_similarity = True
    headline = "itt_acc"
    layout = (
        "a folder (or its data/) with replace_att.json, replace_obj.json, replace_rel.json, swap_att.json, swap_obj.json:\n"
        "  [{id, filename, caption, caption2, negative_caption}]; COCO val2017 images at <data>/images/<filename> (the\n"
        "  repo's scripts), <data>/val2017 or <data>/coco/val2017; image_root= or coco_root= override; subset= picks files"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        found = _folder(folder)
        if found is None or (found / "add_att.json").is_file():
            return False
        path = next(found / f"{s}.json" for s in SUBSETS if (found / f"{s}.json").is_file())
        return path.stat().st_size < 50_000_000 and '"caption2"' in path.read_text(encoding="utf-8", errors="replace")[:4096]

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["image_root", "coco_root", "subset"])
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError("expected a folder holding the SugarCrepe++ JSON files", path=str(data_dir))
        folder = _folder(data_dir)
        if folder is None:
            raise layout_error(self.name, data_dir, self.layout)
        wanted = chosen_subsets(self.name, options.get("subset"), SUBSETS)
        missing = [f"{s}.json" for s in wanted if not (folder / f"{s}.json").is_file()]
        if missing:
            raise DataError(f"missing {', '.join(missing)} (expected:\n{self.layout}\npass subset= to evaluate only some files)", path=str(folder))
        root = _image_root(data_dir, options)
        items = [it for s in wanted for it in read_subset(folder / f"{s}.json", s, root)]
        return BenchmarkData(items=items, meta={"source": str(folder), "image_root": str(root)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (3, 1), self.name)
        hp = metrics.hardpos_scores(s)  # orig: p1 > neg, aug: p2 > neg, joint: both
        flags = {"itt_acc": hp["joint_acc"], "itt_p1_acc": hp["orig_acc"], "itt_p2_acc": hp["aug_acc"]}
        if "text_emb" in data.meta:
            flags["tot_acc"] = text_only(data.items, data.meta["text_emb"])
        subsets = [it.subset for it in data.items]
        out = summarize(subsets, flags, order=list(SUBSETS))
        out["categories"] = summarize([x.split("_", 1)[0] for x in subsets], flags, order=list(CATEGORIES))["subsets"]
        for key in list(flags):
            out["metrics"][f"{key}_macro"] = float(np.mean([v[key] for v in out["subsets"].values()]))
        return out
