"""Shot changes in a video, by PySceneDetect (`scenedetect`, an established shot detector).

EqBen (section 4.1) filters scene changes out of its video twins: a twin should show one scene
with a small change, and two frames on either side of a cut show two scenes. PySceneDetect's
`ContentDetector` (HSV content difference between consecutive frames, default threshold 27) finds
the cuts; a twin whose two frames lie in different shots is dropped as `scene_change`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from eqvl.errors import DataError, EqvlError

logger = logging.getLogger(__name__)
THRESHOLD = 27.0


def scene_cuts(video: str | Path, threshold: float = THRESHOLD) -> list[float]:
    """Times (seconds) where a new shot starts, in order; [] for a single-shot video."""
    try:
        from scenedetect import ContentDetector, detect
    except ImportError:
        raise EqvlError("the scene-change filter needs PySceneDetect: pip install 'eqvl[build]' (scenedetect-headless)") from None
    try:
        scenes = detect(str(video), ContentDetector(threshold=threshold))
    except Exception as exc:  # PySceneDetect raises its own and OpenCV's errors; name the video
        raise DataError(f"scene detection failed: {exc}", path=str(video)) from None
    cuts = [round(float(start.seconds), 6) for start, _ in scenes[1:]]
    logger.debug("%s: %d shot changes", video, len(cuts))
    return cuts


def crosses_cut(t0: float, t1: float, cuts: list[float]) -> bool:
    """Whether a cut lies between the two frame times (the frames are in different shots)."""
    lo, hi = min(t0, t1), max(t0, t1)
    return any(lo < c <= hi for c in cuts)
