"""YouCook2 segments -> EQ-YouCook2 candidates (EqBen appendix B.3).

Each annotated segment gives its middle frame and its sentence; twins pair segments of the same
video: every pair by default (`pairs="all"`), only consecutive ones with `pairs="consecutive"`.
EqBen reports 45,849 EQ-YouCook2 twins; YouCook2's train+val annotations have 1,790 videos with 7.7
segments on average, so consecutive pairs give at most ~12k while every pair within a video gives
~46k: only "all" can reach the paper's count. Frames showing a human face are dropped later by the
build's face filter (the chef's face instead of the food).
"""

from __future__ import annotations

import math
from itertools import combinations
from pathlib import Path
from typing import Any

from eqvl.video.locate import index_videos
from eqvl.videotwins.plan import Candidate, FrameSpec, Plan, VideoPlan
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_json

LAYOUT = ('{"database": {video_id: {duration, subset: training|validation, recipe_type, '
          "annotations: [{segment: [start_s, end_s], id, sentence}], video_url}}} (youcookii_annotations_trainval.json)")


def _database(ann: Any, path: Path) -> dict[str, dict]:
    if not isinstance(ann, dict) or not isinstance(ann.get("database"), dict):
        got = "a GEBC-style {video: [boundaries]} file" if isinstance(ann, dict) and ann and all(isinstance(v, list) for v in ann.values()) \
            else f"keys {sorted(ann)[:3]}" if isinstance(ann, dict) else type(ann).__name__
        raise DataError(f"expected YouCook2's layout {LAYOUT}; got {got}", path=str(path))
    if not ann["database"]:
        raise DataError("the database holds no videos (expected {\"database\": {video_id: {...}}})", path=str(path), field="database")
    return ann["database"]


def _segments(vid: str, entry: Any, path: Path) -> list[tuple[int, float, float, str]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("annotations"), list):
        raise DataError(f"expected {{duration, subset, recipe_type, annotations: [...]}} (layout {LAYOUT})", path=str(path), field=vid)
    out = []
    for k, seg in enumerate(entry["annotations"]):
        where = f"{vid}.annotations[{k}]"
        span = seg.get("segment") if isinstance(seg, dict) else None
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                   and math.isfinite(v) for v in span)) \
                or span[0] < 0 or span[1] < span[0]:
            raise DataError(f"expected segment [start_s, end_s] with 0 <= start <= end, got {span!r}", path=str(path),
                            field=f"{where}.segment")
        sentence = seg.get("sentence")
        if not isinstance(sentence, str) or not sentence.strip():
            raise DataError("expected a non-empty sentence", path=str(path), field=f"{where}.sentence")
        out.append((int(seg.get("id", k)), float(span[0]), float(span[1]), sentence.strip()))
    return sorted(out, key=lambda s: (s[1], s[0]))


def read_youcook2(annotations: str | Path, videos_dir: str | Path, pairs: str = "all", split: str = "all") -> Plan:
    if pairs not in ("consecutive", "all"):
        raise EqvlError(f"`pairs` must be consecutive or all, got {pairs!r}", params=("pairs",))
    path = Path(annotations)
    db = _database(read_json(path), path)
    index = index_videos(videos_dir)
    plan = Plan(subset="youcook2", videos=[], settings={"pairs": pairs, "split": split, "frame": "segment middle"})
    for vid in sorted(db):
        entry = db[vid]
        segs = _segments(vid, entry, path)
        if split != "all" and entry.get("subset") != split:
            continue
        frames = {}
        for ident, start, end, _ in segs:
            t = round((start + end) / 2, 6)
            frames[f"seg{ident:03d}"] = FrameSpec(name=f"seg{ident:03d}", time=t)
        chosen = list(zip(range(len(segs)), range(1, len(segs)))) if pairs == "consecutive" else list(combinations(range(len(segs)), 2))
        candidates = []
        for a, b in chosen:
            plan.candidates += 1
            (ia, _, _, ca), (ib, _, _, cb) = segs[a], segs[b]
            if ca == cb:
                plan.dropped["same_caption"] += 1
                continue
            candidates.append(Candidate(vid, f"seg{ia:03d}", f"seg{ib:03d}", ca, cb, f"youcook2:{pairs}_segments",
                                        {"segment_id_0": ia, "segment_id_1": ib, "recipe_type": entry.get("recipe_type")}))
        if candidates:
            used = {c.frame_0 for c in candidates} | {c.frame_1 for c in candidates}
            fallback = Path(videos_dir) / str(entry.get("subset", "")) / str(entry.get("recipe_type", "")) / f"{vid}.mp4"
            plan.videos.append(VideoPlan(vid, str(index.get(vid, fallback)), {n: frames[n] for n in sorted(used)}, candidates))
    return plan
