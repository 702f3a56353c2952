"""Winoground: 400 twins of two images and two captions with the same words in a
different order; text / image / group overall, per collapsed tag and per tag.

Layout: `examples.jsonl` + `images/<image_N>.png` (the Hugging Face repo's `data/`
folder). A local `datasets.load_from_disk` copy is read too when `datasets` is
installed; its images are written once as PNGs beside it so the engine sees paths.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, group_means, layout_error, record_id, stack_scores, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.benchmarks.twins import twin_results
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError
from eqvl import metrics
from eqvl.io import read_jsonl

_SUFFIXES = (".png", ".jpg", ".jpeg")


def _image_path(images: Path, name: str) -> str:
    """`image_0` is a bare name ("ex_0_img_0"); the release ships PNGs."""
    base = images / name
    if base.suffix.lower() in _SUFFIXES:
        return str(base)
    for suffix in _SUFFIXES:
        if base.with_suffix(suffix).exists():
            return str(base.with_suffix(suffix))
    return str(base.with_suffix(".png"))


def _secondary(value: Any) -> list[str]:
    """secondary_tag is a string that may hold several comma-separated tags, or empty."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t.strip() for t in str(value).split(",") if t.strip()]


def read_examples(path: Path, images: Path) -> list[ScoreItem]:
    items: list[ScoreItem] = []
    seen: set[str] = set()
    for line, obj in read_jsonl(path):
        ident = record_id(obj, path, line, seen)
        imgs = [ImageRef(_image_path(images, text_field(obj, f"image_{k}", path, line))) for k in (0, 1)]
        caps = [text_field(obj, f"caption_{k}", path, line) for k in (0, 1)]
        collapsed = obj.get("collapsed_tag") or "all"
        meta = {"tag": obj.get("tag"), "secondary_tag": _secondary(obj.get("secondary_tag")), "collapsed_tag": collapsed,
                "num_main_preds": obj.get("num_main_preds")}
        items.append(ScoreItem(id=ident, images=imgs, captions=caps, subset=str(collapsed), meta=meta))
    if not items:
        raise DataError("no examples", path=str(path))
    return items


def read_hf_copy(folder: Path) -> list[ScoreItem]:
    """A `datasets.save_to_disk` copy of facebook/winoground (test split)."""
    import datasets  # optional; only reached when importable

    ds = datasets.load_from_disk(str(folder))
    if isinstance(ds, datasets.DatasetDict):
        ds = ds["test"] if "test" in ds else next(iter(ds.values()))
    out_dir = folder / "eqvl_images"
    out_dir.mkdir(exist_ok=True)
    rows = []
    for k, ex in enumerate(ds):
        row = {key: ex.get(key) for key in ("id", "caption_0", "caption_1", "tag", "secondary_tag", "collapsed_tag", "num_main_preds")}
        row.setdefault("id", k)
        for j in (0, 1):
            target = out_dir / f"ex_{row['id']}_img_{j}.png"
            if not target.exists():
                ex[f"image_{j}"].convert("RGB").save(target)
            row[f"image_{j}"] = target.stem
        rows.append(row)
    tmp = out_dir / "examples.jsonl"
    import json

    tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
    return read_examples(tmp, out_dir)


@register_benchmark("winoground")
class WinogroundBenchmark(Benchmark):
    layout = (
        "examples.jsonl ({id, image_0, image_1, caption_0, caption_1, tag, secondary_tag, num_main_preds, collapsed_tag}\n"
        "  per line) and images/<image_0>.png (also: data/examples.jsonl + data/images/, or a datasets.save_to_disk copy\n"
        "  when the `datasets` package is installed); option image_root= overrides the images folder"
    )

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["image_root"])
        data_dir = Path(data_dir)
        if not data_dir.exists():
            raise DataError("no such file or folder", path=str(data_dir))
        if data_dir.is_file():
            path = data_dir
        else:
            found = next((p for p in (data_dir / "examples.jsonl", data_dir / "data" / "examples.jsonl") if p.is_file()), None)
            if found is None:
                if (data_dir / "dataset_info.json").is_file() or (data_dir / "dataset_dict.json").is_file():
                    try:
                        import datasets  # noqa: F401
                    except ImportError:
                        raise DataError("this looks like a Hugging Face `datasets` copy, but the `datasets` package is not "
                                        "installed; install it or point `data` at examples.jsonl + images/", path=str(data_dir), params=("data",)) from None
                    return BenchmarkData(items=read_hf_copy(data_dir), meta={"source": str(data_dir)})
                raise layout_error(self.name, data_dir, self.layout)
            path = found
        images = Path(options["image_root"]) if options.get("image_root") else path.parent / "images"
        return BenchmarkData(items=read_examples(path, images), meta={"source": str(path), "image_root": str(images)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 2), self.name)
        order = [t for t in ("Object", "Relation", "Both") if any(it.subset == t for it in data.items)]
        order += [t for t in OrderedDict.fromkeys(it.subset for it in data.items) if t not in order]
        out = twin_results([it.subset for it in data.items], s, order=order)
        flags = metrics.winoground_scores(s)
        tags = [str(it.meta.get("tag") or "none") for it in data.items]
        per_tag = {"collapsed_tag": out["subsets"], "tag": group_means(tags, flags)}
        # secondary tags: an example counts once under each of its tags
        sec_idx: dict[str, list[int]] = OrderedDict()
        for k, it in enumerate(data.items):
            for t in it.meta.get("secondary_tag") or []:
                sec_idx.setdefault(t, []).append(k)
        if sec_idx:
            per_tag["secondary_tag"] = {
                t: {**{m: metrics.mean_of(v[idx]) for m, v in flags.items()}, "n": len(idx)} for t, idx in sec_idx.items()
            }
        out["per_tag"] = per_tag
        return out
