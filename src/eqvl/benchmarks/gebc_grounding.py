"""GEBC boundary grounding, zero-shot (EqBen appendix A.5 / table 11, after GEB+).

Every annotated boundary is one item: the video's frames sampled at `fps` (paper: 5) x the two
captions [status before, status after] (subject + status, as `eqvl build gebc` writes them). The
predicted boundary lies between the adjacent frames maximising s(I_t, T_before) + s(I_t+1, T_after);
accuracy is the fraction within 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0 s of the annotated
timestamp, and their average. Frames are extracted once into a cache folder (frames_dir=).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, layout_error
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError

SPLIT_FILES = ("val.json", "test.json", "train.json")


def _annotation(data_dir: Path, split: str | None, layout: str) -> Path:
    if data_dir.is_file():
        return data_dir
    if not data_dir.is_dir():
        raise DataError("no such file or folder", path=str(data_dir))
    names = [f"{split}.json"] if split else SPLIT_FILES
    for name in names:
        if (data_dir / name).is_file():
            return data_dir / name
    raise layout_error("gebc-grounding", data_dir, layout)


def _videos_dir(folder: Path, option: str | None) -> Path:
    if option:
        return Path(option)
    for name in ("videos", "kinetics", "clips"):
        if (folder / name).is_dir():
            return folder / name
    return folder


@register_benchmark("gebc-grounding")
class GebcGroundingBenchmark(Benchmark):
    layout = (
        "a folder with val.json / test.json / train.json (GEBC: {youtube_id: [{boundary_id, timestamp, subject,\n"
        "  status_before, status_after, ...}]}) and the Kinetics clips under videos/ (or videos=DIR):\n"
        "  <class>/<ytid>_<start:06d>_<end:06d>.mp4 or <ytid>.mp4; options split=, fps= (default 5), frames_dir="
    )
    task = "video_boundary_grounding"
    OPTIONS = ("split", "videos", "fps", "frames_dir")

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        from eqvl.data.gebc import check_gebc_annotations, status_caption
        from eqvl.grounding.boundary import extract_sampled_frames, frames_folder
        from eqvl.video.locate import index_videos
        from eqvl.encode import default_cache_dir
        from eqvl.io import read_json

        check_options(self.name, options, self.OPTIONS)
        data_dir = Path(data_dir)
        path = _annotation(data_dir, options.get("split"), self.layout)
        try:
            fps = float(options.get("fps", 5))
        except ValueError:
            raise EqvlError(f"gebc-grounding: fps must be a number, got {options['fps']!r}") from None
        ann = check_gebc_annotations(read_json(path), path)
        folder = path.parent
        index = index_videos(_videos_dir(folder, options.get("videos")))
        cache = Path(options.get("frames_dir") or default_cache_dir() / "frames")
        items: list[ScoreItem] = []
        for vid in sorted(ann):
            if not ann[vid]:
                continue
            if vid not in index:
                raise DataError(f"no video file for {vid!r} under {_videos_dir(folder, options.get('videos'))}", path=str(path), field=vid)
            times, paths = extract_sampled_frames(index[vid], fps, frames_folder(cache, index[vid], fps))
            refs = [ImageRef(str(p)) for p in paths]
            for k, b in enumerate(sorted(ann[vid], key=lambda b: float(b["timestamp"]))):
                ident = str(b.get("boundary_id") or f"{vid}_{k}")
                captions = [status_caption(b, "status_before"), status_caption(b, "status_after")]
                items.append(ScoreItem(id=ident, images=refs, captions=captions, subset="gebc",
                                       meta={"times": times, "timestamp": float(b["timestamp"]), "video": vid}))
        if not items:
            raise DataError("no boundaries", path=str(path))
        return BenchmarkData(items=items, meta={"source": str(path), "fps": fps})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        from eqvl.grounding.boundary import boundary_from_scores, grounding_accuracy

        if len(scores) != len(data.items):
            raise EqvlError(f"{self.name}: got {len(scores)} score arrays for {len(data.items)} items")
        pred, truth = [], []
        for item, s in zip(data.items, scores):
            s = np.asarray(s)
            t, _ = boundary_from_scores(s[0], s[1], item.meta["times"])
            pred.append(t)
            truth.append(item.meta["timestamp"])
        metrics = grounding_accuracy(pred, truth)
        return {"metrics": metrics, "subsets": {"gebc": {**metrics, "n": len(pred)}},
                "predictions": {item.id: round(p, 4) for item, p in zip(data.items, pred)}}
