"""Recall of the build's face filter on faces of several sizes, with and without enlarging small frames.

100 face crops and 100 non-face crops of scikit-image's LFW subset (`skimage.data.lfw_subset()`, bundled,
nothing downloaded) are pasted, at each face size, in the middle of a grey frame of each frame size;
a face counts as found when `count_faces` returns >= 1. Side by side in one run: `upscale_to=0` (the
old filter) and the default (frames with a shorter side below 256 px enlarged first).

Run:  .venv/bin/python bench/bench_faces.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from eqvl.videotwins.filters import FACE_UPSCALE_TO, count_faces  # noqa: E402


def pasted(crop: np.ndarray, frame: int, size: int) -> Image.Image:
    canvas = np.full((frame, frame), 128, dtype=np.uint8)
    at = (frame - size) // 2
    patch = Image.fromarray((crop * 255).astype(np.uint8)).resize((size, size), Image.Resampling.LANCZOS)
    canvas[at:at + size, at:at + size] = np.asarray(patch)
    return Image.fromarray(canvas).convert("RGB")


def main() -> None:
    import skimage.data

    lfw = skimage.data.lfw_subset()
    faces, others = lfw[:100], lfw[100:]
    print(f"| frame px | face px | recall, no upscaling | recall, upscale to {FACE_UPSCALE_TO} | false alarms (of 100), no / with |")
    print("|---:|---:|---:|---:|---:|")
    for frame in (128, 192, 256, 384):
        for size in (24, 32, 48, 64, 96):
            found = {u: sum(count_faces(pasted(c, frame, size), upscale_to=u) > 0 for c in faces) for u in (0, FACE_UPSCALE_TO)}
            false = {u: sum(count_faces(pasted(c, frame, size), upscale_to=u) > 0 for c in others) for u in (0, FACE_UPSCALE_TO)}
            print(f"| {frame} | {size} | {found[0]}% | {found[FACE_UPSCALE_TO]}% | {false[0]} / {false[FACE_UPSCALE_TO]} |")


if __name__ == "__main__":
    main()
