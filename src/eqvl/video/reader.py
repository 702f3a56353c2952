"""Frame-accurate frame extraction with PyAV (its wheel ships FFmpeg).

`VideoReader.frames_at(times)` returns the frame *shown* at each time: the last frame whose
presentation time is <= t. A time more than a frame (+ END_SLACK_S) past the last frame that
actually decodes is an error naming the time and the decodable length: a partial download in a
streamable container (mkv, webm) keeps the full duration in its header but decodes only part. It seeks (to the keyframe before t) only when the next wanted time is
far ahead, and otherwise keeps decoding, so sparse timestamps cost a few GOPs each instead of a
decode of the whole video (see bench/bench_build.py), and dense ones never re-seek.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Sequence

from PIL import Image

from eqvl.errors import DataError

#: seek instead of decoding forward when the next wanted time is this far (seconds) ahead
SEEK_GAP_S = 1.0
#: a timestamp may exceed the stream's reported duration by this much (container rounding)
END_SLACK_S = 0.05


def _av():
    try:
        import av
    except ImportError:
        from eqvl.errors import EqvlError

        raise EqvlError("video decoding needs PyAV: pip install 'eqvl[build]'") from None
    return av


class VideoReader:
    """One open video file; use as a context manager. Errors name the file."""

    def __init__(self, path: str | Path, threads: int = 0):
        av = _av()
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError("video file not found", path=str(self.path))
        try:
            self._container = av.open(str(self.path))
            if not self._container.streams.video:
                raise DataError("no video stream", path=str(self.path))
            self._stream = self._container.streams.video[0]
        except av.error.FFmpegError as exc:
            raise DataError(f"cannot open video: {exc}", path=str(self.path)) from None
        # threads=0: FFmpeg picks (frame + slice threads, as many as cores) - right for one reader in
        # the calling process; pool workers pass cores // workers so workers x threads <= cores.
        # Threads are per process: never fork a process after it decoded (see eqvl.processes).
        self._stream.thread_type = "AUTO" if threads != 1 else "NONE"
        self._stream.thread_count = max(0, threads)
        tb = self._stream.time_base or Fraction(1, 1_000_000)
        self._time_base = tb
        self.start = float((self._stream.start_time or 0) * tb)
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        if self._stream.duration:
            self.duration = float(self._stream.duration * tb)
        elif self._container.duration:
            self.duration = self._container.duration / 1_000_000
        else:
            self.duration = float("inf")
        self._frames: Iterator | None = None
        self._last = None  # last decoded frame with time <= the previous target
        self._pending = None  # decoded frame past the previous target, not yet consumed

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    # ------------------------------------------------------------------ decoding

    def _seek(self, t: float) -> None:
        av = _av()
        target = int(max(t, self.start) / self._time_base)
        try:
            self._container.seek(max(target, 0), stream=self._stream, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            raise DataError(f"cannot seek to {t:.3f} s: {exc}", path=str(self.path)) from None
        self._frames = self._container.decode(self._stream)
        self._last = self._pending = None

    def _next(self):
        av = _av()
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        try:
            return next(self._frames, None)
        except av.error.FFmpegError as exc:
            raise DataError(f"cannot decode video: {exc}", path=str(self.path)) from None

    def frame_seconds(self) -> float:
        """How long one frame is shown (1 / fps; 0.04 s when the stream states no rate)."""
        return 1.0 / self.fps if self.fps else 0.04

    def _frame_at(self, t: float):
        eps = 1e-6
        here = self._last if self._last is not None else self._pending
        if self._frames is None or here is None or t + eps < here.time and self._last is not None \
                or t - here.time > SEEK_GAP_S:
            self._seek(t)
        ended = False
        while True:
            frame = self._next()
            if frame is None:
                ended = True
                break
            if frame.time is not None and frame.time > t + eps:
                self._pending = frame
                break
            self._last = frame
        found = self._last if self._last is not None else self._pending
        if found is None:
            raise DataError(f"no frame decodes at {t - self.start:.3f} s (the video claims {self.duration:.3f} s; "
                            "a truncated file?)", path=str(self.path))
        # the stream ended before t: a truncated file (partial download) whose header still claims the full length
        if ended and found.time is not None and t - found.time > self.frame_seconds() + END_SLACK_S + eps:
            decodes_to = found.time - self.start + self.frame_seconds()
            raise DataError(f"frame at {t - self.start:.3f} s requested but the video decodes only to {decodes_to:.3f} s "
                            f"(it claims {self.duration:.3f} s: a truncated file?)", path=str(self.path))
        return found

    def check_time(self, t: float, what: str = "timestamp") -> None:
        if t < 0 or t > self.duration + END_SLACK_S:
            raise DataError(f"{what} {t:.3f} s is outside the video (duration {self.duration:.3f} s)", path=str(self.path))

    def frames_at(self, times: Sequence[float]) -> list[Image.Image]:
        """RGB frames shown at `times` (seconds from the stream start), in the order given."""
        for t in times:
            self.check_time(t)
        order = sorted(range(len(times)), key=lambda k: times[k])
        out: dict[int, Image.Image] = {}
        for k in order:
            out[k] = self._frame_at(self.start + times[k]).to_image()
        return [out[k] for k in range(len(times))]

    def frames_by_index(self, indices: Sequence[int]) -> list[Image.Image]:
        """Frames by number at the native rate (Action Genome's frame ids): frame n is shown at n / fps."""
        if not self.fps:
            raise DataError("video has no frame rate; cannot address frames by number", path=str(self.path))
        times = [(n + 0.25) / self.fps for n in indices]  # a quarter frame in: robust to pts rounding
        for n, t in zip(indices, times):
            if t > self.duration + END_SLACK_S:
                raise DataError(f"frame {n} is past the end of the video ({self.duration * self.fps:.0f} frames)", path=str(self.path))
        return self.frames_at(times)

    def all_frames(self) -> Iterator[tuple[float, Any]]:
        """Every decoded frame from the start, in order, as (time, av.VideoFrame): the reference the
        seeking path is measured against (convert with `.to_image()` only the frames you keep)."""
        self._seek(self.start)
        while True:
            frame = self._next()
            if frame is None:
                return
            yield frame.time - self.start, frame


def frames_every_decode(path: str | Path, times: Sequence[float]) -> list[Image.Image]:
    """The slow reference: decode every frame and keep the one shown at each time (benchmarks, tests)."""
    wanted = sorted(range(len(times)), key=lambda k: times[k])
    out: dict[int, Image.Image] = {}
    with VideoReader(path) as reader:
        k, last = 0, None
        for t, frame in reader.all_frames():
            while k < len(wanted) and t > times[wanted[k]] + 1e-6:
                out[wanted[k]] = (last if last is not None else frame).to_image()
                k += 1
            last = frame
            if k == len(wanted):
                break
        while k < len(wanted):
            if last is None:
                raise DataError("no frame decodes", path=str(path))
            out[wanted[k]] = last.to_image()
            k += 1
    return [out[k] for k in range(len(times))]


def sample_times(duration: float, fps: float) -> list[float]:
    """Times of frames sampled at `fps` from 0 to the end (grounding: the paper samples at 5 fps)."""
    if fps <= 0:
        raise DataError(f"`fps` must be positive, got {fps}", params=("fps",))
    n = math.ceil(duration * fps - 1e-9)
    return [k / fps for k in range(n)]
