"""Which candidates become twins, after the frames exist: image-level filters and the automatic screen.

In order, a candidate is dropped when one of its frames failed (`bad_frame`), shows a face
(`face`, YouCook2), lie in different shots (`scene_change`, with the scene filter), the two frames are near-duplicates by dHash (`near_duplicate`), the same two
pictures already form a kept twin of the same video (and, for Action Genome, the same object;
`duplicate_scope="build"`: anywhere in the build) (`duplicate_images`), or, with a screening encoder, the
image-image cosine similarity falls outside the band (`screen_too_different` /
`screen_too_similar`): a twin should show one scene with a small change, so very low similarity
means a cut or a different scene and very high similarity means no visible change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eqvl.videotwins.filters import hamming
from eqvl.videotwins.ag_pairs import pair_track
from eqvl.videotwins.plan import Candidate, Plan, Track, safe_name
from eqvl.videotwins.scenes import crosses_cut
from eqvl.errors import EqvlError

if TYPE_CHECKING:
    from eqvl.models.base import Encoder


@dataclass
class ScreenConfig:
    #: frames whose dHashes differ in at most this many of 64 bits are near-duplicates (-1: off)
    dedup_bits: int = 2
    #: image-image cosine band a kept twin must fall in (only with a screening encoder)
    sim_low: float = 0.5
    sim_high: float = 0.97
    #: where `duplicate_images` looks for the same two pictures: "video" (per video, and per object for
    #: Action Genome, whose twins EqBen lays out per subject) or "build"
    duplicate_scope: str = "video"
    model: str | None = None
    pretrained: str | None = None
    batch_size: int = 32

    def validate(self) -> "ScreenConfig":
        if not -1 <= self.dedup_bits <= 64:
            raise EqvlError(f"`dedup_bits` must be in -1..64, got {self.dedup_bits}", params=("dedup_bits",))
        if self.duplicate_scope not in ("video", "build"):
            raise EqvlError(f"`duplicate_scope` must be video or build, got {self.duplicate_scope!r}", params=("duplicate_scope",))
        if not -1.0 <= self.sim_low <= self.sim_high <= 1.0:
            raise EqvlError(f"`sim_band` must be LOW,HIGH with -1 <= LOW <= HIGH <= 1, got {self.sim_low},{self.sim_high}", params=("sim_band",))
        return self

    def manifest(self, faces: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"dhash_near_duplicate_max_bits": self.dedup_bits, "face_filter": faces,
                               "duplicate_images_scope": self.duplicate_scope}
        if self.model is not None:
            out["screen"] = {"model": self.model, "pretrained": self.pretrained, "image_cosine_band": [self.sim_low, self.sim_high]}
        else:
            out["screen"] = None
        return out


def _frame_ok(info: dict | None) -> str | None:
    if info is None or "error" in info:
        return "bad_frame"
    if info.get("faces", 0) > 0:
        return "face"
    return None


def twin_id(plan_subset: str, video: str, cand, used: Counter) -> str:
    base = f"{plan_subset}/{safe_name(video)}/{cand.frame_0}-{cand.frame_1}"
    if "object" in cand.extra:
        base += f"/{safe_name(cand.extra['object'])}"
    used[base] += 1
    return base if used[base] == 1 else f"{base}#{used[base]}"


def _pair_filter(a: dict | None, b: dict | None, screen: ScreenConfig, seen: set, scope: tuple) -> str | None:
    """Why the two frames cannot be a twin, or None (and then the pair of pictures is remembered)."""
    why = _frame_ok(a) or _frame_ok(b)
    if why is not None or screen.dedup_bits < 0:
        return why
    assert a is not None and b is not None
    if hamming(int(a["dhash"], 16), int(b["dhash"], 16)) <= screen.dedup_bits:
        return "near_duplicate"
    key = (scope if screen.duplicate_scope == "video" else ()) + tuple(sorted((a["dhash"], b["dhash"])))
    if key in seen:
        return "duplicate_images"
    seen.add(key)
    return None


def _row(plan: Plan, vp, cand: Candidate, a: dict, b: dict, used: Counter) -> dict:
    row = {"id": twin_id(plan.subset, vp.video, cand, used), "subset": plan.subset,
           "image_0": a["path"], "image_1": b["path"], "caption_0": cand.caption_0, "caption_1": cand.caption_1,
           "video": vp.video, "frame_0": cand.frame_0, "frame_1": cand.frame_1, "rule": cand.rule}
    spec0, spec1 = vp.frames[cand.frame_0], vp.frames[cand.frame_1]
    if spec0.time is not None:
        row["time_0"], row["time_1"] = round(spec0.time, 6), round(spec1.time, 6)
    row.update(cand.extra)
    return row


def _track_candidates(vp, track: Track, frames: dict, screen: ScreenConfig, seen: set, dropped: Counter) -> list[Candidate]:
    """Appendix B.1's rule on one AG track with the filters taking part (ag_pairs.pair_track)."""
    chosen_keys: set = set()

    def accept(i: int, j: int) -> str | None:
        cap_i, cap_j = track.captions[i][0], track.captions[j][0]
        if cap_i == cap_j:
            return "same_caption"
        key = (track.numbers[i], track.numbers[j], cap_i, cap_j)
        if key in chosen_keys:  # one frame annotated with two objects of this class
            return "duplicate"
        why = _pair_filter(frames.get(track.frames[i]), frames.get(track.frames[j]), screen, seen, (vp.video, track.object))
        if why is None:
            chosen_keys.add(key)
        return why

    chosen, why = pair_track(track.numbers, track.relations, accept)
    dropped.update(why)
    out = []
    for i, j in chosen:
        rel_i, rel_j = (dict(zip(("attention", "spatial", "contacting"), map(list, track.relations[k]))) for k in (i, j))
        extra = {"object": track.object, "frame_id_0": track.numbers[i], "frame_id_1": track.numbers[j],
                 "relations_0": rel_i, "relations_1": rel_j, "captions_0": track.captions[i], "captions_1": track.captions[j]}
        out.append(Candidate(vp.video, track.frames[i], track.frames[j], track.captions[i][0], track.captions[j][0],
                             "ag:relations_differ>=2,skip_next", extra))
    return out


def select_twins(plan: Plan, markers: dict[str, dict], screen: ScreenConfig, encoder: Encoder | None, out: Path,
                 progress: bool = True) -> tuple[list[dict], Counter]:
    """Apply the filters; return twins.jsonl rows (plan order) and the drop counts."""
    dropped: Counter = Counter()
    rows: list[dict] = []
    seen: set = set()
    used: Counter = Counter()
    for vp in plan.videos:
        marker = markers.get(vp.video, {})
        if "error" in marker:
            dropped["bad_video"] += len(vp.candidates)
            for track in vp.tracks:  # the relation rule still says which pairs were possible at all
                dropped.update(pair_track(track.numbers, track.relations, lambda i, j: "bad_video")[1])
            continue
        frames, cuts = marker.get("frames", {}), marker.get("scene_cuts")
        for cand in vp.candidates:
            a, b = frames.get(cand.frame_0), frames.get(cand.frame_1)
            t0, t1 = vp.frames[cand.frame_0].time, vp.frames[cand.frame_1].time
            why = _frame_ok(a) or _frame_ok(b)
            if why is None and cuts is not None and t0 is not None and t1 is not None and crosses_cut(t0, t1, cuts):
                why = "scene_change"  # the two frames lie in different shots
            why = why or _pair_filter(a, b, screen, seen, (vp.video,))
            if why is not None:
                dropped[why] += 1
                continue
            rows.append(_row(plan, vp, cand, a, b, used))
        for track in vp.tracks:
            for cand in _track_candidates(vp, track, frames, screen, seen, dropped):
                rows.append(_row(plan, vp, cand, frames[cand.frame_0], frames[cand.frame_1], used))
    if encoder is not None and rows:
        rows = _screen(rows, screen, encoder, out, dropped, progress)
    return rows, dropped


def image_similarities(encoder: Encoder, out: Path, rows: list[dict], batch_size: int, progress: bool) -> np.ndarray:
    """Cosine similarity of each twin's two images, via the shared encoding layer (each image once)."""
    from eqvl.data.records import ImageRef
    from eqvl.encode import EncodeConfig, encode_images

    paths = sorted({r[k] for r in rows for k in ("image_0", "image_1")})
    index = {p: i for i, p in enumerate(paths)}
    enc = encode_images(encoder, [ImageRef(str(out / p)) for p in paths], EncodeConfig(batch_size=batch_size, progress=progress))
    if enc.bad:
        first = next(iter(enc.bad.values()))
        raise EqvlError(f"screen: {len(enc.bad)} image(s) failed to encode; first: {first}")
    emb = enc.emb / np.linalg.norm(enc.emb, axis=1, keepdims=True)
    i0 = np.array([index[r["image_0"]] for r in rows])
    i1 = np.array([index[r["image_1"]] for r in rows])
    return np.sum(emb[i0] * emb[i1], axis=1)


def _screen(rows: list[dict], screen: ScreenConfig, encoder: Encoder, out: Path, dropped: Counter, progress: bool) -> list[dict]:
    sims = image_similarities(encoder, out, rows, screen.batch_size, progress)
    kept = []
    for row, sim in zip(rows, sims):
        if sim < screen.sim_low:
            dropped["screen_too_different"] += 1
        elif sim > screen.sim_high:
            dropped["screen_too_similar"] += 1
        else:
            kept.append({**row, "image_similarity": round(float(sim), 4)})
    return kept
