"""Image-text retrieval (Flickr30K 1k / COCO 5k Karpathy test splits): every image
against every caption, image->text and text->image Recall@1/5/10.

A full-matrix benchmark: the engine embeds data.meta["images"] and
data.meta["captions"] once each and calls `evaluate_embeddings`; the recall is
computed in chunks (eqvl.metrics.retrieval_recalls) so the full similarity matrix never
exists. Images and captions keep the order CLIP_benchmark's loaders give them, because
where scores tie, top-k (and so Recall@K) depends on position.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, layout_error, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.paths import resolve_data_path
from eqvl.data.records import ImageRef
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_csv_rows, read_json, text_lines
from eqvl.metrics import RETRIEVAL_TIES, retrieval_recalls

_KARPATHY = ("dataset_coco.json", "dataset_flickr30k.json", "dataset_flickr8k.json")
#: CLIP_benchmark's annotation files (github.com/mehdidc/retrieval_annotations), tried after Karpathy's
_CLIP_BENCHMARK = ("flickr30k_test_karpathy.txt", "flickr8k_test_karpathy.txt", "coco_test_karpathy.json")


def read_karpathy(path: Path, split: str) -> "OrderedDict[str, list[str]]":
    """{images: [{filename, filepath?, split, sentences: [{raw}]}]} -> relative image path -> captions
    (COCO-style caption JSON, {images, annotations}, goes to `read_coco_captions`)."""
    ann = read_json(path)
    if isinstance(ann, dict) and isinstance(ann.get("annotations"), list):
        return read_coco_captions(ann, path)
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


def read_coco_captions(ann: dict, path: Path) -> "OrderedDict[str, list[str]]":
    """CLIP_benchmark's coco_<split>_karpathy.json ({images: [{id, file_name}], annotations: [{image_id,
    caption}]}), ordered as torchvision's CocoCaptions serves it: images by ascending id, each
    image's captions in file order. The file holds one split, so `split=` does not apply."""
    if not isinstance(ann.get("images"), list):
        raise DataError("expected a list", path=str(path), field="images")
    names: dict[Any, str] = {}
    for k, img in enumerate(ann["images"]):
        if not isinstance(img, dict) or "id" not in img:
            raise DataError("expected an object with an id", path=str(path), field=f"images[{k}]")
        names[img["id"]] = text_field(img, "file_name", path, where=f"images[{k}].")
    caps: dict[Any, list[str]] = {}
    for k, rec in enumerate(ann["annotations"]):
        where = f"annotations[{k}]."
        if not isinstance(rec, dict) or rec.get("image_id") not in names:
            raise DataError("image_id names no image in 'images'", path=str(path), field=f"{where}image_id")
        caps.setdefault(rec["image_id"], []).append(text_field(rec, "caption", path, where=where))
    try:
        order = sorted(names)
    except TypeError:
        raise DataError("image ids must all be numbers or all strings", path=str(path), field="images") from None
    return OrderedDict((names[i], caps[i]) for i in order if i in caps)


def read_clip_benchmark_txt(path: Path) -> "OrderedDict[str, list[str]]":
    """CLIP_benchmark's flickr*_<split>_karpathy.txt: a header line (`image,caption`), then
    `<image>.jpg,<caption>` with commas left unquoted inside the caption. Split as CLIP_benchmark
    does, at ".jpg,"; a line without it (another extension) splits at its first comma."""
    out: "OrderedDict[str, list[str]]" = OrderedDict()
    for line_no, line in text_lines(path):  # BOM accepted, bad bytes named by line and offset
        if line_no > 1:
            line = line.strip()
            if not line:
                continue
            if ".jpg," in line:
                image, caption = line.split(".jpg,", 1)
                image += ".jpg"
            elif "," in line:
                image, caption = line.split(",", 1)
            else:
                raise DataError("expected <image>,<caption>", path=str(path), line=line_no)
            if not image or not caption.strip():
                raise DataError("empty image or caption", path=str(path), line=line_no)
            out.setdefault(image, []).append(caption)
    return out


def _is_clip_benchmark_txt(path: Path) -> bool:
    return next(text_lines(path), (1, ""))[1].strip() == "image,caption"


def read_caption_csv(path: Path, split: str, image_col: str, caption_col: str) -> "OrderedDict[str, list[str]]":
    """A CSV (tab- or comma-separated, with header) with one row per caption; rows of one image share its path."""
    header = next(text_lines(path), (1, ""))[1]
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


def find_annotation(data_dir: Path, bench: str, layout: str) -> Path:
    """`--data` itself, or the first annotation file the folder holds (Karpathy's, then CLIP_benchmark's, then any)."""
    if data_dir.is_file():
        return data_dir
    if not data_dir.is_dir():
        raise DataError("no such file or folder", path=str(data_dir))
    cands = [data_dir / n for n in (*_KARPATHY, *_CLIP_BENCHMARK) if (data_dir / n).is_file()]
    for pattern in ("dataset_*.json", "*_karpathy.txt", "*.csv", "*.tsv"):
        cands += sorted(data_dir.glob(pattern))
    if not cands:
        raise layout_error(bench, data_dir, layout)
    return cands[0]


def read_annotation(path: Path, split: str, image_col: str, caption_col: str) -> "OrderedDict[str, list[str]]":
    """Relative image path -> its captions, in file order, whichever layout `path` has."""
    if path.suffix.lower() == ".json":
        return read_karpathy(path, split)
    if _is_clip_benchmark_txt(path):
        return read_clip_benchmark_txt(path)
    return read_caption_csv(path, split, image_col, caption_col)


@register_benchmark("retrieval")
class RetrievalBenchmark(Benchmark):
    task = "zeroshot_retrieval"
    full_matrix = True
    layout = (
        "a Karpathy split JSON (dataset_coco.json, dataset_flickr30k.json: {images: [{filename, filepath?, split,\n"
        "  sentences: [{raw}]}]}), CLIP_benchmark's files (flickr30k_test_karpathy.txt: header image,caption, commas\n"
        "  inside captions; coco_test_karpathy.json: COCO captions {images, annotations}) or a CSV (tab or comma,\n"
        "  header with filepath + title columns, one row per caption, optional split column), or --data pointing at\n"
        "  the file; options split= (default test; all), image_root= (default: the file's folder, or its\n"
        "  flickr30k-images/ / images/ / val2014/ subfolder), image_col=, caption_col=, chunk_size=, ties= (topk:\n"
        "  CLIP_benchmark's Recall@K, the default; strict: also *_strict keys where a tie is a miss)"
    )
    OPTIONS = ("split", "image_root", "image_col", "caption_col", "chunk_size", "ties")

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, self.OPTIONS)
        path = find_annotation(Path(data_dir), self.name, self.layout)
        split = str(options.get("split", "test"))
        by_image = read_annotation(path, split, str(options.get("image_col", "filepath")), str(options.get("caption_col", "title")))
        if not by_image:
            raise DataError(f"no images in split {split!r} (option split=, or split=all)", path=str(path))
        root = Path(options["image_root"]) if options.get("image_root") else self._default_root(path.parent, next(iter(by_image)))
        images, captions, owner = [], [], []
        for k, (rel, caps) in enumerate(by_image.items()):
            images.append(ImageRef(resolve_data_path(root, rel, str(path))))
            captions.extend(caps)
            owner.extend([k] * len(caps))
        try:
            chunk = int(options.get("chunk_size", 1024))
        except (TypeError, ValueError):
            raise EqvlError("retrieval: chunk_size must be an integer") from None
        ties = str(options.get("ties", "topk"))
        if ties not in RETRIEVAL_TIES:
            raise EqvlError(f"retrieval: ties={ties!r}; valid: {', '.join(RETRIEVAL_TIES)}")
        meta = {"images": images, "captions": captions, "text_to_image": np.asarray(owner, dtype=np.int64),
                "split": split, "source": str(path), "chunk_size": max(1, chunk), "ties": ties}
        return BenchmarkData(items=[], meta=meta)

    @staticmethod
    def _default_root(folder: Path, first_rel: str) -> Path:
        if (folder / first_rel).exists():
            return folder
        for sub in ("flickr30k-images", "images", "val2014", "coco"):
            if (folder / sub / first_rel).exists():
                return folder / sub
        return folder

    def evaluate_embeddings(self, data: BenchmarkData, image_emb, text_emb) -> dict[str, Any]:
        """Recall@K under `metrics`; the tie counts (integers, not rates) beside them in the subset row and under `ties`."""
        n_img, n_txt = len(data.meta["images"]), len(data.meta["captions"])
        if image_emb.shape[0] != n_img or text_emb.shape[0] != n_txt:
            raise EqvlError(f"retrieval: got {image_emb.shape[0]} image / {text_emb.shape[0]} text embeddings for {n_img} images / {n_txt} captions")
        got = retrieval_recalls(image_emb, text_emb, data.meta["text_to_image"], chunk=int(data.meta.get("chunk_size", 1024)),
                                strict=data.meta.get("ties") == "strict")
        rec = {k: v for k, v in got.items() if not k.endswith("_ties")}
        ties = {k: v for k, v in got.items() if k.endswith("_ties")}
        split = data.meta.get("split", "test")
        return {"metrics": rec, "subsets": {split: {**rec, **ties, "n": n_img, "n_captions": n_txt}},
                "ties": {"protocol": data.meta.get("ties", "topk"), **ties}}
