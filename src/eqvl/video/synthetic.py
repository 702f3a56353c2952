"""Small synthetic videos written with PyAV, for tests, `bench/bench_build.py` and the docs
picture: a coloured background that changes at given times with a white square sliding across,
so every frame is distinct (perceptual hashes differ) and the colour says which segment it is in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from eqvl.video.reader import _av

Colour = tuple[int, int, int]


def colour_frame(colour: Colour, k: int, size: tuple[int, int], square: bool = True) -> np.ndarray:
    """H x W x 3 uint8: flat `colour`, plus a white square whose position moves with frame number k."""
    w, h = size
    frame = np.empty((h, w, 3), dtype=np.uint8)
    frame[:] = colour
    if square:
        side = max(4, min(w, h) // 4)
        x = (k * 3) % max(1, w - side)
        y = (k * 2) % max(1, h - side)
        frame[y:y + side, x:x + side] = 255
    return frame


def write_video(path: str | Path, n_frames: int, fps: int, size: tuple[int, int],
                frame_fn: Callable[[int], np.ndarray], codec: str = "libx264", gop: int = 25) -> Path:
    """Encode `n_frames` frames from `frame_fn(k)` (H x W x 3 RGB uint8) into an mp4."""
    av = _av()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.gop_size = gop
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "18", "bf": "0"}
        for k in range(n_frames):
            frame = av.VideoFrame.from_ndarray(frame_fn(k), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def segment_video(path: str | Path, colours: Sequence[Colour], seconds_each: float, fps: int = 10,
                  size: tuple[int, int] = (64, 48), square: bool = True) -> Path:
    """Consecutive segments of `seconds_each` seconds, one colour each (segment boundaries are known times)."""
    per = int(round(seconds_each * fps))
    total = per * len(colours)
    return write_video(path, total, fps, size, lambda k: colour_frame(colours[min(k // per, len(colours) - 1)], k, size, square))
