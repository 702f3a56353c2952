"""Peak memory of `eqvl ground`'s frame path on synthetic videos of two lengths.

Side by side in one run, each in a fresh process (peak RSS from getrusage): the streamed path
`eqvl.grounding.boundary.streamed_scores` (decode, encode, score a batch at a time) and the
earlier path that decoded every sampled frame into a list first (`VideoReader.frames_at(all times)`).
The encoder is a stub (mean colour), so the figures are the frames' memory, not a model's.

Run:  .venv/bin/python bench/bench_ground_memory.py [--seconds 60,240] [--size 320x240]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[4])
import numpy as np, torch
from eqvl.video.reader import VideoReader, sample_times
from eqvl.grounding.boundary import streamed_scores

class Stub:
    def preprocess(self, image):
        return torch.from_numpy(np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0))
    def encode_images(self, pixels):
        return torch.nn.functional.normalize(pixels.float(), dim=-1)
    def encode_texts(self, texts):
        return torch.nn.functional.normalize(torch.ones(len(texts), 3), dim=-1)
    def score(self, i, t):
        return t @ i.T
    def identity(self):
        return "stub"
    name = pretrained = "stub"
    score_kind = "cosine"

video, mode = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if mode == "streamed":
    times, s = streamed_scores(Stub(), video, ["a", "b"], fps=float(sys.argv[3]), batch_size=64)
else:
    with VideoReader(video) as r:
        times = sample_times(r.duration, float(sys.argv[3]))
        frames = r.frames_at(times)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"frames": len(times), "peak_mb": peak / 1024, "base_mb": base / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", default="60,240")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=float, default=5.0, help="sampling rate (eqvl ground's default 5)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from eqvl.video.synthetic import colour_frame, write_video

    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"| video | sampled frames | streamed peak RSS (MB) | all-frames-in-a-list peak RSS (MB) |\n|---|---:|---:|---:|")
        for seconds in (int(s) for s in args.seconds.split(",")):
            video = write_video(Path(tmp) / f"v{seconds}.mp4", seconds * 10, 10, (w, h),
                                lambda k: colour_frame(((k * 7) % 256, 80, 160), k, (w, h)), gop=50)
            res = {}
            for mode in ("streamed", "list"):
                out = subprocess.run([sys.executable, "-c", CHILD, str(video), mode, str(args.fps), str(ROOT / "src")],
                                     capture_output=True, text=True, check=True)
                res[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {seconds} s, {w}x{h} | {res['streamed']['frames']} | {res['streamed']['peak_mb']:.0f} | {res['list']['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
