#!/usr/bin/env python3
"""Shows the hazard behind eqvl.processes (issue 27): forking while FFmpeg threads are busy.

A background thread of this process decodes and converts frames without pause (FFmpeg frame and
slice threads, swscale), as a process does that decoded video before starting a build pool. The
script then starts N short-lived workers, each decoding and converting one frame, first with the
`fork` start method (what `eqvl build --workers` used), then with `spawn` (what it uses now), and
counts the workers that did not finish within --timeout seconds: a fork copies whatever lock an
FFmpeg thread held at that instant, and that lock is never released in the child.

Run:  .venv/bin/python scripts/fork_hazard.py [--n 40] [--timeout 10]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from eqvl.video.reader import VideoReader  # noqa: E402
from eqvl.video.synthetic import segment_video  # noqa: E402

STOP = threading.Event()


def _decode_forever(video: str) -> None:
    k = 0
    while not STOP.is_set():
        with VideoReader(video) as reader:  # threads=0: FFmpeg's own thread pools
            reader.frames_at([(k % 50) * 0.1, 5.0 - (k % 50) * 0.1])
        k += 1


def _child(video: str) -> None:
    with VideoReader(video) as reader:
        reader.frames_at([2.5])


def trial(method: str, video: str, n: int, timeout: float) -> int:
    ctx = mp.get_context(method)
    hung = 0
    for _ in range(n):
        proc = ctx.Process(target=_child, args=(video,))
        proc.start()
        proc.join(timeout)
        if proc.is_alive():
            hung += 1
            proc.kill()
            proc.join()
    return hung


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = str(Path(tmp) / "v.mp4")
        colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]
        segment_video(video, colours, 1.5, fps=25, size=(640, 480))
        worker = threading.Thread(target=_decode_forever, args=(video,), daemon=True)
        worker.start()
        time.sleep(0.5)
        for method in ("fork", "spawn"):
            started = time.perf_counter()
            hung = trial(method, video, args.n, args.timeout)
            print(f"{method:6s}: {hung} of {args.n} workers hung (> {args.timeout:g} s), "
                  f"{time.perf_counter() - started:.1f} s")
        STOP.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
