"""What a dataset reader hands the build: per video, the frames to extract and the candidate twins.

Readers (ag.py, gebc.py, youcook2.py) turn official annotations into a `Plan` without touching
any video; the pipeline then extracts frames video by video and applies the image filters.
Plain dataclasses so the plan can be pickled to worker processes and tested without videos.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FrameSpec:
    """One frame to extract: by frame number (`index`, Action Genome) or by `time` in seconds."""

    name: str  # output file stem, unique within its video
    index: int | None = None
    time: float | None = None


@dataclass
class Candidate:
    """A candidate twin: two frames of one video, each with its caption, and the rule that paired them."""

    video: str
    frame_0: str  # FrameSpec.name
    frame_1: str
    caption_0: str
    caption_1: str
    rule: str
    #: extra fields copied to twins.jsonl (object class, segment ids, caption lists for the EqBen export)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Track:
    """One object's annotated frames in one video (Action Genome): pairs are chosen from it only after
    the frames exist, so the image filters take part in choosing (see ag_pairs.py)."""

    object: str
    frames: list[str]  # FrameSpec names, in frame order (a name repeats when one frame shows two such objects)
    numbers: list[int]  # annotation frame ids
    relations: list[tuple]  # (attention, spatial, contacting) per frame
    captions: list[list[str]]  # caption list per frame; the first is the twin's caption


@dataclass
class VideoPlan:
    """Everything one video contributes. `source` is a video file or a folder of pre-extracted frames."""

    video: str
    source: str | None
    frames: dict[str, FrameSpec]
    candidates: list[Candidate]
    source_kind: str = "video"  # "video" | "frames"
    tracks: list[Track] = field(default_factory=list)


@dataclass
class Plan:
    """A reader's result: videos in a stable order plus what the annotation-level filters dropped."""

    subset: str
    videos: list[VideoPlan]
    dropped: Counter = field(default_factory=Counter)
    #: candidate pairs considered before any filter (annotation-level filters included)
    candidates: int = 0
    settings: dict[str, Any] = field(default_factory=dict)


def safe_name(text: str) -> str:
    """A file-system-safe, stable stem for a video id or frame key (ids may hold '/', '.' or spaces)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return out or "_"
