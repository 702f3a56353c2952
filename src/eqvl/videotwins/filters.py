"""Image and caption filters of the build: perceptual hash, face detector, motion words.

- dHash (difference hash, 64 bits): the grey 9x8 thumbnail's left/right brightness steps. Two
  frames whose hashes differ in <= `dedup_bits` bits are near-duplicates: such a twin shows no
  visual change, and a second twin with the same two pictures adds nothing.
- Faces: OpenCV's Haar cascade (`haarcascade_frontalface_default.xml`), whose weights ship in the
  `opencv-python-headless` 4.x wheel (`cv2.data.haarcascades`); nothing is downloaded. EqBen drops
  YouCook2 frames that show the chef's face instead of the food (appendix B.3).
- Motion words: GEBC captions with words a still frame cannot show. Appendix B.2 lists "action words
  (e.g. up, down, upward, downward and towards)"; each listed word also matches its word forms
  (`word_forms`): "up" matches up / upward / upwards, "towards" matches toward / towards.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

import numpy as np
from PIL import Image

from eqvl.errors import EqvlError

#: EqBen B.2: "action words (e.g. up, down, upward, downward and towards)"; forms via `word_forms`
DEFAULT_MOTION_WORDS = ("up", "down", "upward", "downward", "towards")
FACE_CASCADE = "haarcascade_frontalface_default.xml"
#: frames with a shorter side below this are enlarged before face detection (see count_faces)
FACE_UPSCALE_TO = 256


def dhash(image: Image.Image, size: int = 8) -> int:
    """64-bit difference hash of an image (Pillow resize to (size+1) x size, grey)."""
    grey = np.asarray(image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS), dtype=np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _stem(word: str) -> str:
    """"towards" -> "toward", "upwards" -> "upward": the -wards spelling is the -ward word."""
    word = word.lower()
    return word[:-1] if word.endswith("wards") else word


def word_forms(word: str) -> set[str]:
    """The forms a listed motion word matches: itself, its -ward / -wards spellings, and (for a
    -ward word) the other spelling. up -> {up, upward, upwards}; towards -> {toward, towards}."""
    stem = _stem(word)
    forms = {stem, stem + "s"} if stem.endswith("ward") else {stem, stem + "ward", stem + "wards"}
    return forms | {word.lower()}


def motion_word_hits(text: str, words: Iterable[str]) -> list[str]:
    """The listed words that occur in `text` as whole words in any of their forms (case-insensitive)."""
    tokens = set(re.findall(r"[a-z']+", text.lower()))
    return [w for w in words if word_forms(w) & tokens]


@lru_cache(maxsize=1)
def _cascade():
    try:
        import cv2
    except ImportError:
        raise EqvlError("the face filter needs OpenCV: pip install 'eqvl[build]' (opencv-python-headless 4.x)") from None
    data = getattr(cv2, "data", None)
    if data is None or not getattr(data, "haarcascades", None):
        raise EqvlError(f"this OpenCV ({cv2.__version__}) ships no Haar cascades (cv2.data); install opencv-python-headless<5")
    detector = cv2.CascadeClassifier(data.haarcascades + FACE_CASCADE)
    if detector.empty():
        raise EqvlError(f"cannot load {FACE_CASCADE} from {data.haarcascades}")
    return cv2, detector


def count_faces(image: Image.Image, min_size: int = 24, min_neighbors: int = 5, upscale_to: int = FACE_UPSCALE_TO) -> int:
    """Frontal faces found by OpenCV's bundled Haar cascade (grey, histogram-equalised).

    The cascade's smallest window is 24 px, so faces in small frames go unseen: a frame whose shorter
    side is below `upscale_to` is enlarged (Lanczos) to it first (0: never). Measured with
    bench/bench_faces.py (100 LFW faces pasted at several sizes; recall without -> with upscaling, 128 px
    frames): 24 px faces 5 -> 71, 32 px 56 -> 83, 48 px 72 -> 85, 64 px 88 -> 89; false alarms on
    scikit-image's 100 LFW non-faces stay 0-1."""
    cv2, detector = _cascade()
    grey_image = image.convert("L")
    w, h = grey_image.size
    if upscale_to and min(w, h) < upscale_to:
        factor = upscale_to / min(w, h)
        grey_image = grey_image.resize((round(w * factor), round(h * factor)), Image.Resampling.LANCZOS)
    grey = cv2.equalizeHist(np.asarray(grey_image))
    faces = detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(min_size, min_size))
    return int(len(faces))
