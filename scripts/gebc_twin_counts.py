"""What `eqvl build gebc` makes of a real GEB+ annotation file, before any video is read.

    python scripts/gebc_twin_counts.py path/to/GEB-Plus/datasets/annotations/val.json [--gap 2]

Prints the videos and boundary records, how many timestamps carry several annotators' records,
the candidate pairs, the pairs kept and dropped per annotation-level filter, and two checks that
must both be 0: pairs whose two frames straddle fewer than two distinct boundary instants (the
paper's "skip one boundary"), and frames that sit on a boundary instant instead of mid-segment.
The image filters (bad frame, near-duplicate, duplicate images, screen) need the Kinetics clips.
The annotation file comes from github.com/showlab/GEB-Plus (datasets/annotations/).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from eqvl.videotwins.gebc import read_gebc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("annotations", help="GEB+ val.json / test.json / train.json")
    ap.add_argument("--gap", type=int, default=2, help="as eqvl build gebc --gap (default 2)")
    args = ap.parse_args()
    ann = json.loads(Path(args.annotations).read_text(encoding="utf-8"))
    stamps = {vid: Counter(round(float(b["timestamp"]), 6) for b in bounds) for vid, bounds in ann.items()}
    shared = sum(1 for c in stamps.values() for n in c.values() if n > 1)
    with tempfile.TemporaryDirectory() as empty:  # no video is read
        plan = read_gebc(args.annotations, empty, gap=args.gap)
    straddle_lt2 = on_boundary = kept = 0
    for vp in plan.videos:
        instants = sorted(stamps[vp.video])
        for c in vp.candidates:
            t0, t1 = vp.frames[c.frame_0].time, vp.frames[c.frame_1].time
            kept += 1
            straddle_lt2 += sum(1 for t in instants if t0 < t < t1) < 2
            on_boundary += sum(1 for t in (t0, t1) if any(abs(t - b) < 1e-3 for b in instants))
    print(f"file: {args.annotations}")
    print(f"videos: {len(ann)}; boundary records: {sum(len(b) for b in ann.values())}; "
          f"distinct boundary instants: {sum(len(c) for c in stamps.values())}")
    print(f"instants with several annotators' records: {shared} "
          f"(in {sum(1 for c in stamps.values() if any(n > 1 for n in c.values()))} videos)")
    print(f"candidates: {plan.candidates}; kept (before the image filters): {kept}")
    print("dropped: " + (", ".join(f"{k} {v}" for k, v in sorted(plan.dropped.items())) or "none"))
    print(f"pairs whose frames straddle < 2 distinct boundary instants: {straddle_lt2} (must be 0)")
    print(f"frames on a boundary instant (within 1 ms): {on_boundary} (must be 0)")


if __name__ == "__main__":
    main()
