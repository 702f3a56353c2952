"""Your own videos with timed captions -> twins by the YouCook2 rule (EqBen appendix B.3).

Each caption covers one time span of one video; its image is the span's middle frame, and twins
pair two spans of the same video (every pair by default, as YouCook2; `pairs="consecutive"`).
Accepted annotation files (`read_timed_captions`):

- JSON lines: `{"video": "clip01", "start": 1.0, "end": 3.5, "caption": "a man opens the door"}`
- CSV with a header row `video,start,end,caption` (same fields)
- SRT / WebVTT subtitles: one file per video, named like the video (`clip01.srt` for `clip01.mp4`);
  `--annotations` is such a file or a folder of them.

`video` is the file name without extension (or a path relative to `--videos`, without extension).
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import NamedTuple

from eqvl.errors import DataError, EqvlError
from eqvl.io import read_jsonl
from eqvl.video.locate import index_videos
from eqvl.videotwins.plan import Candidate, FrameSpec, Plan, VideoPlan

SUBTITLES = (".srt", ".vtt")
_STAMP = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})\s*-->\s*(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})")
_TAG = re.compile(r"<[^>]+>")


class Span(NamedTuple):
    video: str
    start: float
    end: float
    caption: str
    where: tuple[str, int]  # file, line: errors name them


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def read_subtitles(path: Path) -> list[Span]:
    """SRT or WebVTT cues of one file; the video is the file's stem."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    out: list[Span] = []
    k = 0
    while k < len(lines):
        m = _STAMP.match(lines[k])
        if m is None:
            k += 1
            continue
        start, end = _seconds(*m.group(1, 2, 3, 4)), _seconds(*m.group(5, 6, 7, 8))
        text, j = [], k + 1
        while j < len(lines) and lines[j].strip():
            text.append(_TAG.sub("", lines[j]).strip())
            j += 1
        out.append(Span(path.stem, start, end, " ".join(t for t in text if t), (str(path), k + 1)))
        k = j
    if not out:
        raise DataError("no cues found (expected SRT 'HH:MM:SS,mmm --> HH:MM:SS,mmm' or WebVTT timings)", path=str(path))
    return out


def _record(obj: dict, path: Path, line: int) -> Span:
    for key in ("video", "caption"):
        if not isinstance(obj.get(key), str):
            raise DataError("expected a string", path=str(path), line=line, field=key)
    times = []
    for key in ("start", "end"):
        try:
            times.append(float(obj.get(key)))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise DataError(f"expected seconds, got {obj.get(key)!r}", path=str(path), line=line, field=key) from None
    return Span(obj["video"], times[0], times[1], obj["caption"], (str(path), line))


def read_timed_captions(annotations: str | Path) -> list[Span]:
    """Every span of a .jsonl / .csv file, a .srt / .vtt file, or a folder of subtitle files; checked."""
    path = Path(annotations)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUBTITLES)
        if not files:
            raise DataError("no .srt or .vtt files in this folder", path=str(path))
        spans = [s for f in files for s in read_subtitles(f)]
    elif not path.is_file():
        raise DataError("annotation file not found", path=str(path))
    elif path.suffix.lower() in SUBTITLES:
        spans = read_subtitles(path)
    elif path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"video", "start", "end", "caption"} <= set(reader.fieldnames):
                raise DataError(f"expected a header row video,start,end,caption; got {reader.fieldnames}", path=str(path), line=1)
            spans = [_record(row, path, n) for n, row in enumerate(reader, start=2)]
    elif path.suffix.lower() in (".jsonl", ".json"):
        spans = [_record(obj, path, n) for n, obj in read_jsonl(path)]
    else:
        raise DataError("expected a .jsonl, .csv, .srt or .vtt file, or a folder of .srt / .vtt files", path=str(path))
    for s in spans:
        if not (math.isfinite(s.start) and math.isfinite(s.end)) or s.start < 0 or s.end < s.start:
            raise DataError(f"expected 0 <= start <= end, got {s.start}..{s.end}", path=s.where[0], line=s.where[1])
        if not s.caption.strip():
            raise DataError("empty caption", path=s.where[0], line=s.where[1])
    if not spans:
        raise DataError("no timed captions", path=str(path))
    return spans


def read_captions(annotations: str | Path, videos_dir: str | Path, pairs: str = "all") -> Plan:
    """The twins plan: middle frame per span, pairs of spans within each video (YouCook2's rule)."""
    if pairs not in ("all", "consecutive"):
        raise EqvlError(f"`pairs` must be all or consecutive, got {pairs!r}", params=("pairs",))
    by_video: dict[str, list[Span]] = defaultdict(list)
    for span in read_timed_captions(annotations):
        by_video[span.video].append(span)
    index = index_videos(videos_dir)
    plan = Plan(subset="captions", videos=[], settings={"pairs": pairs, "frame": "span middle"})
    for vid in sorted(by_video):
        spans = sorted(by_video[vid], key=lambda s: (s.start, s.end, s.caption))
        names = [f"s{k:04d}" for k in range(len(spans))]
        frames = {n: FrameSpec(name=n, time=round((s.start + s.end) / 2, 6)) for n, s in zip(names, spans)}
        chosen = list(zip(range(len(spans)), range(1, len(spans)))) if pairs == "consecutive" else list(combinations(range(len(spans)), 2))
        candidates = []
        for a, b in chosen:
            plan.candidates += 1
            if spans[a].caption.strip() == spans[b].caption.strip():
                plan.dropped["same_caption"] += 1
                continue
            candidates.append(Candidate(vid, names[a], names[b], spans[a].caption.strip(), spans[b].caption.strip(),
                                        f"captions:{pairs}_spans", {"span_0": [spans[a].start, spans[a].end],
                                                                    "span_1": [spans[b].start, spans[b].end]}))
        if candidates:
            used = {c.frame_0 for c in candidates} | {c.frame_1 for c in candidates}
            source = index.get(vid) or index.get(Path(vid).name) or Path(videos_dir) / f"{vid}.mp4"
            plan.videos.append(VideoPlan(vid, str(source), {n: frames[n] for n in sorted(used)}, candidates))
    return plan
