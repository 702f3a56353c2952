"""How fast `eqvl build` gets frames and pairs.

1. Frames extracted per second at sparse timestamps (one per 5 s) on a synthetic 10-minute video:
   seek-based (`VideoReader.frames_at`, what the build uses) vs decoding every frame
   (`frames_every_decode`), side by side in one run; the two must return identical pixels.
2. Pairs built per second from annotations: Action Genome pickles and a GEBC file of synthetic
   videos, read into a plan (the pairing rules; no video touched).

Run:  .venv/bin/python bench/bench_build.py [--minutes 10] [--size 160x120] [--fps 25] [--gop 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from eqvl.videotwins.ag import read_ag  # noqa: E402
from eqvl.videotwins.ag_pairs import pair_track  # noqa: E402
from eqvl.videotwins.gebc import read_gebc  # noqa: E402
from eqvl.video.synthetic import colour_frame, write_video  # noqa: E402
from eqvl.video.reader import VideoReader, frames_every_decode  # noqa: E402

RELS = ["lookingat", "notlookingat", "unsure", "above", "beneath", "infrontof", "behind", "onthesideof", "in",
        "carrying", "coveredby", "drinkingfrom", "eating", "haveitontheback", "holding", "leaningon", "lyingon",
        "notcontacting", "otherrelationship", "sittingon", "standingon", "touching", "twisting", "wearing", "wiping", "writingon"]
ATT, SPA, CON = ["looking_at", "not_looking_at", "unsure"], ["above", "beneath", "in_front_of", "behind", "on_the_side_of", "in"], \
    ["holding", "touching", "not_contacting", "sitting_on", "wiping"]


def frames_benchmark(folder: Path, minutes: float, size: tuple[int, int], fps: int, gop: int, repeats: int) -> None:
    n = int(minutes * 60 * fps)
    t0 = time.perf_counter()
    palette = [tuple(int(v) for v in np.random.default_rng(k).integers(0, 256, 3)) for k in range(64)]
    video = write_video(folder / "long.mp4", n, fps, size, lambda k: colour_frame(palette[(k // fps) % 64], k, size), gop=gop)
    print(f"synthetic video: {minutes:g} min, {n} frames, {size[0]}x{size[1]} at {fps} fps, keyframe every {gop} frames "
          f"({video.stat().st_size / 1e6:.1f} MB, encoded in {time.perf_counter() - t0:.1f} s)")
    times = [5.0 * k + 2.5 for k in range(int(minutes * 60 / 5))]
    best = {"seek": float("inf"), "decode-all": float("inf")}
    for _ in range(repeats):
        t0 = time.perf_counter()
        with VideoReader(video) as reader:
            seek = reader.frames_at(times)
        best["seek"] = min(best["seek"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        full = frames_every_decode(video, times)
        best["decode-all"] = min(best["decode-all"], time.perf_counter() - t0)
    same = all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(seek, full))
    print(f"{len(times)} timestamps (one per 5 s), best of {repeats}; identical pixels: {same}")
    print("| method | seconds | frames/s |\n|---|---:|---:|")
    for name, sec in best.items():
        print(f"| {name} | {sec:.3f} | {len(times) / sec:.1f} |")
    print(f"seek vs decode-all: {best['decode-all'] / best['seek']:.1f}x (goal >= 5x)")


def write_ag_annotations(folder: Path, videos: int, frames: int, objects: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    ann = folder / "ag"
    ann.mkdir()
    (ann / "object_classes.txt").write_text("\n".join(["person", "cupglassbottle", "chair", "table", "book", "dish", "laptop"]))
    (ann / "relationship_classes.txt").write_text("\n".join(RELS))
    classes = ["cup/glass/bottle", "chair", "table", "book", "dish", "laptop"][:objects]
    obj, per = {}, {}
    for v in range(videos):
        for f in range(frames):
            key = f"V{v:05d}.mp4/{f * 7:06d}.png"
            obj[key] = [{"class": c, "bbox": (1, 1, 5, 5), "attention_relationship": [rng.choice(ATT)],
                         "spatial_relationship": [rng.choice(SPA)], "contacting_relationship": [rng.choice(CON)],
                         "metadata": {"tag": "t", "set": "train"}, "visible": True} for c in classes]
            per[key] = {"bbox": np.ones((1, 4), dtype=np.float32), "bbox_score": np.ones(1, dtype=np.float32), "bbox_size": (480, 270)}
    (ann / "object_bbox_and_relationship.pkl").write_bytes(pickle.dumps(obj))
    (ann / "person_bbox.pkl").write_bytes(pickle.dumps(per))
    return ann


def write_gebc_annotations(folder: Path, videos: int, boundaries: int) -> Path:
    words = ["stands", "sits", "walks", "holds a cup", "opens a door", "reads", "jumps", "waves"]
    rng = random.Random(1)
    ann = {}
    for v in range(videos):
        ts = sorted(rng.uniform(0.5, 9.5) for _ in range(boundaries))
        ann[f"y{v:06d}"] = [{"boundary_id": f"y{v:06d}_{k}", "timestamp": t, "prev_timestamp": ts[k - 1] if k else 0.0,
                             "next_timestamp": ts[k + 1] if k + 1 < len(ts) else 10.0, "subject": "a person",
                             "status_before": rng.choice(words), "status_after": rng.choice(words)} for k, t in enumerate(ts)]
    path = folder / "gebc.json"
    path.write_text(json.dumps(ann))
    (folder / "clips").mkdir()
    return path


def pairs_benchmark(folder: Path) -> None:
    print("\n| annotations | videos | candidate pairs | kept pairs | seconds | kept pairs/s |\n|---|---:|---:|---:|---:|---:|")
    ann = write_ag_annotations(folder, videos=400, frames=25, objects=3)
    t0 = time.perf_counter()
    plan = read_ag(ann, frames_dir=folder / "frames")
    # AG pairs are chosen after extraction (the image filters take part); here: the relation rule alone
    kept = sum(len(pair_track(t.numbers, t.relations)[0]) for v in plan.videos for t in v.tracks)
    sec = time.perf_counter() - t0
    print(f"| Action Genome pickles (400 videos x 25 frames x 3 objects) | {len(plan.videos)} | {plan.candidates} | {kept} | {sec:.2f} | {kept / sec:,.0f} |")
    path = write_gebc_annotations(folder, videos=3000, boundaries=5)
    t0 = time.perf_counter()
    plan = read_gebc(path, folder / "clips")
    sec = time.perf_counter() - t0
    kept = sum(len(v.candidates) for v in plan.videos)
    print(f"| GEBC JSON (3000 videos x 5 boundaries) | {len(plan.videos)} | {plan.candidates} | {kept} | {sec:.2f} | {kept / sec:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--size", default="160x120")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--gop", type=int, default=50, help="keyframe interval in frames (web video: ~2-5 s)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="eqvl-bench-build-") as tmp:
        frames_benchmark(Path(tmp), args.minutes, (w, h), args.fps, args.gop, args.repeats)
        pairs_benchmark(Path(tmp))


if __name__ == "__main__":
    main()
