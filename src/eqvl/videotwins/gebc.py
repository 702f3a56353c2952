"""GEBC / Kinetics-GEB+ boundaries -> EQ-GEBC candidates (EqBen appendix B.2).

A video's m boundaries (sorted by time) cut it into m+1 segments. Adjacent segments are often
indistinguishable in still frames (the change is an action), so, as the paper does, one boundary
is skipped: the segment before boundary i is paired with the segment after boundary i+1
(`gap` = 2; gap 1 gives the naive adjacent pairs). Each image is the middle frame of its segment;
its caption is the boundary's subject with its status before / after ("a man in blue" +
"stands on a rope"). Captions with motion words a still frame cannot show are dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from eqvl.videotwins.filters import DEFAULT_MOTION_WORDS, motion_word_hits
from eqvl.video.locate import index_videos
from eqvl.videotwins.plan import Candidate, FrameSpec, Plan, VideoPlan
from eqvl.data.gebc import check_gebc_annotations, status_caption
from eqvl.errors import DataError
from eqvl.io import read_json

def segment_edges(bounds: list[dict]) -> list[float]:
    """[start, t_0, t_1, ..., t_{m-1}, end]: segment k lies between edges k and k+1."""
    start = max(0.0, float(bounds[0].get("prev_timestamp", 0.0) or 0.0))  # some copies mark "no previous" with -1
    end = float(bounds[-1].get("next_timestamp", bounds[-1]["timestamp"]))
    return [start] + [float(b["timestamp"]) for b in bounds] + [end]


def read_gebc(annotations: str | Path, videos_dir: str | Path, gap: int = 2,
              motion_words: Sequence[str] = DEFAULT_MOTION_WORDS) -> Plan:
    path = Path(annotations)
    ann = check_gebc_annotations(read_json(path), path)
    index = index_videos(videos_dir)
    plan = Plan(subset="gebc", videos=[], settings={"gap": gap, "motion_words": list(motion_words), "frame": "segment middle"})
    for vid in sorted(ann):
        bounds = sorted(ann[vid], key=lambda b: float(b["timestamp"]))
        if not bounds:
            continue
        edges = segment_edges(bounds)
        for k in range(len(edges) - 1):
            if edges[k + 1] < edges[k]:
                raise DataError(f"segment {k} ends ({edges[k + 1]} s) before it starts ({edges[k]} s)", path=str(path), field=vid)
        frames: dict[str, FrameSpec] = {}
        candidates = []
        for i in range(len(bounds) - gap + 1):
            before, after = bounds[i], bounds[i + gap - 1]
            cap0, cap1 = status_caption(before, "status_before"), status_caption(after, "status_after")
            plan.candidates += 1
            if motion_word_hits(cap0, motion_words) or motion_word_hits(cap1, motion_words):
                plan.dropped["motion_word"] += 1
                continue
            if cap0 == cap1:
                plan.dropped["same_caption"] += 1
                continue
            specs = []
            for seg in (i, i + gap):
                t = round((edges[seg] + edges[seg + 1]) / 2, 6)
                spec = FrameSpec(name=f"t{int(round(t * 1000)):08d}", time=t)
                frames[spec.name] = spec
                specs.append(spec)
            extra = {"boundary_0": before.get("boundary_id"), "boundary_1": after.get("boundary_id"),
                     "segment_0": i, "segment_1": i + gap}
            candidates.append(Candidate(vid, specs[0].name, specs[1].name, cap0, cap1, f"gebc:segment_i,i+{gap}", extra))
        if candidates:
            source = index.get(vid, Path(videos_dir) / f"{vid}.mp4")
            plan.videos.append(VideoPlan(vid, str(source), frames, candidates))
    return plan
