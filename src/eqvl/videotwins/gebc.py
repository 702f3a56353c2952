"""GEBC / Kinetics-GEB+ boundaries -> EQ-GEBC candidates (EqBen appendix B.2).

A video's boundary records are first grouped by timestamp: several annotators' records of one
instant (ids ending A, B, C) are ONE boundary. The m distinct instants cut the video into m+1
segments. Adjacent segments are often indistinguishable in still frames (the change is an action),
so, as the paper does, one boundary is skipped: the segment before instant i is paired with the
segment after instant i+1 (`gap` = 2; gap 1 gives the naive adjacent pairs). Each image is the
middle frame of its segment.

Captions: subject + status ("a man in blue" + "stands on a rope"). Where an instant has several
annotators, each side of the twin keeps every annotator's caption that passes the motion-word
filter (`captions_0` / `captions_1`, in annotator order, as EqBen's AG layout keeps caption lists);
the twin's own caption is the first of them, taking the next annotator's only where the first pair
is identical. A side with no caption left is dropped as `motion_word`.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Sequence

from eqvl.data.gebc import boundary_instants, check_gebc_annotations, status_caption
from eqvl.errors import DataError
from eqvl.io import read_json
from eqvl.video.locate import index_videos
from eqvl.videotwins.filters import DEFAULT_MOTION_WORDS, motion_word_hits
from eqvl.videotwins.plan import Candidate, FrameSpec, Plan, VideoPlan


def segment_edges(instants: list[list[dict]]) -> list[float]:
    """[start, t_0, t_1, ..., t_{m-1}, end] over distinct instants: segment k lies between edges k and k+1."""
    first, last = instants[0], instants[-1]
    start = max(0.0, min(float(b.get("prev_timestamp", 0.0) or 0.0) for b in first))  # some copies mark "no previous" with -1
    end = max(float(b.get("next_timestamp", b["timestamp"])) for b in last)
    return [start] + [float(g[0]["timestamp"]) for g in instants] + [end]


def _captions(group: list[dict], status: str, words: Sequence[str]) -> list[str]:
    out: list[str] = []
    for b in group:
        text = status_caption(b, status)
        if text not in out and not motion_word_hits(text, words):
            out.append(text)
    return out


def _frame(edges: list[float], seg: int, frames: dict[str, FrameSpec]) -> str:
    t = round((edges[seg] + edges[seg + 1]) / 2, 6)
    spec = FrameSpec(name=f"t{int(round(t * 1000)):08d}", time=t)
    frames[spec.name] = spec
    return spec.name


def _video_candidates(vid: str, instants: list[list[dict]], gap: int, words: Sequence[str], plan: Plan,
                      path: Path) -> tuple[dict[str, FrameSpec], list[Candidate]]:
    edges = segment_edges(instants)
    for k in range(len(edges) - 1):
        if edges[k + 1] < edges[k]:
            raise DataError(f"segment {k} ends ({edges[k + 1]} s) before it starts ({edges[k]} s)", path=str(path), field=vid)
    frames: dict[str, FrameSpec] = {}
    candidates = []
    for i in range(len(instants) - gap + 1):
        before, after = instants[i], instants[i + gap - 1]
        plan.candidates += 1
        caps0, caps1 = _captions(before, "status_before", words), _captions(after, "status_after", words)
        if not caps0 or not caps1:
            plan.dropped["motion_word"] += 1
            continue
        chosen = next(((a, b) for a, b in product(caps0, caps1) if a != b), None)
        if chosen is None:
            plan.dropped["same_caption"] += 1
            continue
        if edges[i + 1] <= edges[i] or edges[i + gap + 1] <= edges[i + gap]:
            plan.dropped["empty_segment"] += 1  # a boundary at the clip's start or end: no frame inside it
            continue
        names = [_frame(edges, seg, frames) for seg in (i, i + gap)]
        extra = {"boundary_0": before[0].get("boundary_id"), "boundary_1": after[0].get("boundary_id"),
                 "boundaries_0": [b.get("boundary_id") for b in before], "boundaries_1": [b.get("boundary_id") for b in after],
                 "captions_0": caps0, "captions_1": caps1, "segment_0": i, "segment_1": i + gap}
        candidates.append(Candidate(vid, names[0], names[1], chosen[0], chosen[1], f"gebc:segment_i,i+{gap}", extra))
    return frames, candidates


def read_gebc(annotations: str | Path, videos_dir: str | Path, gap: int = 2,
              motion_words: Sequence[str] = DEFAULT_MOTION_WORDS) -> Plan:
    path = Path(annotations)
    ann = check_gebc_annotations(read_json(path), path)
    index = index_videos(videos_dir)
    plan = Plan(subset="gebc", videos=[], settings={"gap": gap, "motion_words": list(motion_words), "frame": "segment middle",
                                                     "annotators": "one boundary per timestamp; captions of all annotators"})
    for vid in sorted(ann):
        instants = boundary_instants(ann[vid])
        if not instants:
            continue
        frames, candidates = _video_candidates(vid, instants, gap, motion_words, plan, path)
        if candidates:
            source = index.get(vid, Path(videos_dir) / f"{vid}.mp4")
            plan.videos.append(VideoPlan(vid, str(source), frames, candidates))
    return plan
