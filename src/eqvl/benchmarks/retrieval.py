"""Image-text retrieval (Flickr30K 1k / COCO 5k Karpathy test splits): every image
against every caption, image->text and text->image Recall@1/5/10.

A full-matrix benchmark: the engine embeds data.meta["images"] and
data.meta["captions"] once each and calls `evaluate_embeddings`; the recall is
computed in chunks (eqvl.retrieval.recall) so the full similarity matrix never exists.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, layout_error, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_csv_rows, read_json
from eqvl.retrieval.recall import retrieval_recalls

_KARPATHY = ("dataset_coco.json", "dataset_flickr30k.json", "dataset_flickr8k.json")


def read_karpathy(path: Path, split: str) -> "OrderedDict[str, list[str]]":
    """{images: [{filename, filepath?, split, sentences: [{raw}]}]} -> relative image path -> captions."""
    ann = read_json(path)
    if not isinstance(ann, dict) or not isinstance(ann.get("images"), list):
        raise DataError("expected Karpathy JSON {images: [...]}", path=str(path), field="images")
    out: "OrderedDict[str, list[str]]" = OrderedDict()
    for k, img in enumerate(ann["images"]):
        where = f"images[{k}]."
        if not isinstance(img, dict):
            raise DataError("expected an object", path=str(path), field=f"images[{k}]")
        img_split = img.get("split")
        if split != "all":
            if img_split is None:
                raise DataError("missing required field", path=str(path), field=f"{where}split")
            # Karpathy's COCO 'restval' images are training images
            if img_split != split:
                continue
        rel = str(Path(img.get("filepath") or "") / text_field(img, "filename", path, where=where))
        sents = img.get("sentences")
        if not isinstance(sents, list) or not sents:
            raise DataError("expected a non-empty list", path=str(path), field=f"{where}sentences")
        caps = [text_field(s if isinstance(s, dict) else {}, "raw", path, where=f"{where}sentences[{j}].") for j, s in enumerate(sents)]
        if rel in out:
            raise DataError(f"duplicate image {rel!r}", path=str(path), field=f"{where}filename")
        out[rel] = caps
    return out


def read_caption_csv(path: Path, split: str, image_col: str, caption_col: str) -> "OrderedDict[str, list[str]]":
    """A CSV (tab- or comma-separated, with header) with one row per caption; rows of one image share its path."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline()
    sep = "\t" if "\t" in header else ","
    out: "OrderedDict[str, list[str]]" = OrderedDict()
    for line, row in read_csv_rows(path, sep=sep):
        if image_col not in row or caption_col not in row:
            raise DataError(f"expected columns {image_col!r} and {caption_col!r} (options image_col=, caption_col=)", path=str(path), line=1)
        if split != "all" and "split" in row and row["split"] != split:
            continue
        img = text_field(row, image_col, path, line)
        out.setdefault(img, []).append(text_field(row, caption_col, path, line))
    return out


@register_benchmark("retrieval")
class RetrievalBenchmark(Benchmark):
    task = "zeroshot_retrieval"
    full_matrix = True
    layout = (
        "a Karpathy split JSON (dataset_coco.json, dataset_flickr30k.json: {images: [{filename, filepath?, split,\n"
        "  sentences: [{raw}]}]}) or a CSV (tab or comma, header with filepath + title columns, one row per caption,\n"
        "  optional split column), or --data pointing at the file; options split= (default test; all), image_root=\n"
        "  (default: the file's folder, or its flickr30k-images/ / images/ subfolder), image_col=, caption_col=, chunk_size="
    )
    OPTIONS = ("split", "image_root", "image_col", "caption_col", "chunk_size")

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, self.OPTIONS)
        data_dir = Path(data_dir)
        if data_dir.is_file():
            path = data_dir
        elif data_dir.is_dir():
            cands = [data_dir / n for n in _KARPATHY if (data_dir / n).is_file()]
            cands += sorted(data_dir.glob("dataset_*.json")) + sorted(data_dir.glob("*.csv")) + sorted(data_dir.glob("*.tsv"))
            if not cands:
                raise layout_error(self.name, data_dir, self.layout)
            path = cands[0]
        else:
            raise DataError("no such file or folder", path=str(data_dir))
        split = str(options.get("split", "test"))
        if path.suffix.lower() == ".json":
            by_image = read_karpathy(path, split)
        else:
            by_image = read_caption_csv(path, split, str(options.get("image_col", "filepath")), str(options.get("caption_col", "title")))
        if not by_image:
            raise DataError(f"no images in split {split!r} (option split=, or split=all)", path=str(path))
        root = Path(options["image_root"]) if options.get("image_root") else self._default_root(path.parent, next(iter(by_image)))
        images, captions, owner = [], [], []
        for k, (rel, caps) in enumerate(by_image.items()):
            images.append(ImageRef(str(Path(rel) if Path(rel).is_absolute() else root / rel)))
            captions.extend(caps)
            owner.extend([k] * len(caps))
        try:
            chunk = int(options.get("chunk_size", 1024))
        except (TypeError, ValueError):
            raise EqvlError("retrieval: chunk_size must be an integer") from None
        meta = {"images": images, "captions": captions, "text_to_image": np.asarray(owner, dtype=np.int64),
                "split": split, "source": str(path), "chunk_size": max(1, chunk)}
        return BenchmarkData(items=[], meta=meta)

    @staticmethod
    def _default_root(folder: Path, first_rel: str) -> Path:
        if (folder / first_rel).exists():
            return folder
        for sub in ("flickr30k-images", "images", "coco"):
            if (folder / sub / first_rel).exists():
                return folder / sub
        return folder

    def evaluate_embeddings(self, data: BenchmarkData, image_emb, text_emb) -> dict[str, Any]:
        n_img, n_txt = len(data.meta["images"]), len(data.meta["captions"])
        if image_emb.shape[0] != n_img or text_emb.shape[0] != n_txt:
            raise EqvlError(f"retrieval: got {image_emb.shape[0]} image / {text_emb.shape[0]} text embeddings for {n_img} images / {n_txt} captions")
        rec = retrieval_recalls(image_emb, text_emb, data.meta["text_to_image"], chunk=int(data.meta.get("chunk_size", 1024)))
        split = data.meta.get("split", "test")
        return {"metrics": rec, "subsets": {split: {**rec, "n": n_img, "n_captions": n_txt}}}
