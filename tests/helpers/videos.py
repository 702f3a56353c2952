"""Tiny inputs in each dataset's official layout, written by the tests (no test functions here)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from eqvl.video.synthetic import colour_frame, segment_video

AG_OBJECTS = ["person", "bag", "bed", "blanket", "book", "box", "broom", "chair", "closetcabinet", "clothes",
              "cupglassbottle", "dish", "door", "doorknob", "doorway", "floor", "food", "groceries", "laptop", "light",
              "medicine", "mirror", "papernotebook", "phonecamera", "picture", "pillow", "refrigerator", "sandwich",
              "shelf", "shoe", "sofacouch", "table", "television", "towel", "vacuum", "window"]
AG_RELATIONS = ["lookingat", "notlookingat", "unsure", "above", "beneath", "infrontof", "behind", "onthesideof", "in",
                "carrying", "coveredby", "drinkingfrom", "eating", "haveitontheback", "holding", "leaningon", "lyingon",
                "notcontacting", "otherrelationship", "sittingon", "standingon", "touching", "twisting", "wearing",
                "wiping", "writingon"]

#: cup track of video AG001 (frames 10..60): relations (attention, spatial, contacting)
CUP_TRACK = {
    10: (["looking_at"], ["in_front_of"], ["holding"]),
    20: (["looking_at"], ["in_front_of"], ["holding"]),
    30: (["not_looking_at"], ["beneath"], ["holding"]),
    40: (["looking_at"], ["in_front_of"], ["touching"]),
    50: (["looking_at"], ["behind"], ["touching"]),
    60: (["looking_at"], ["behind"], ["touching"]),
}
#: the pairs appendix B.1's rule must choose from CUP_TRACK (worked by hand in test_build_ag.py)
CUP_PAIRS = [(10, 30), (30, 50)]
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (200, 30, 200), (30, 200, 200), (120, 120, 120)]


def _obj(cls, rel, visible=True, split="train"):
    if not visible:
        return {"class": cls, "bbox": None, "attention_relationship": None, "spatial_relationship": None,
                "contacting_relationship": None, "metadata": {"tag": "x", "set": split}, "visible": False}
    return {"class": cls, "bbox": (1.0, 2.0, 10.0, 12.0), "attention_relationship": list(rel[0]),
            "spatial_relationship": list(rel[1]), "contacting_relationship": list(rel[2]),
            "metadata": {"tag": "x", "set": split}, "visible": True}


def write_ag(root: Path, frames: bool = True, video: bool = False, fps: int = 10) -> Path:
    """annotations/ (pickles + vocabularies), frames/AG001.mp4/<%06d>.png and/or videos/AG001.mp4."""
    ann = root / "annotations"
    ann.mkdir(parents=True)
    (ann / "object_classes.txt").write_text("\n".join(AG_OBJECTS) + "\n")
    (ann / "relationship_classes.txt").write_text("\n".join(AG_RELATIONS) + "\n")
    objects, persons = {}, {}
    for n, rel in CUP_TRACK.items():
        key = f"AG001.mp4/{n:06d}.png"
        objects[key] = [_obj("cup/glass/bottle", rel), _obj("phone/camera", None, visible=False)]
        persons[key] = {"bbox": np.array([[0, 0, 20, 30]], dtype=np.float32), "bbox_score": np.array([0.9], dtype=np.float32),
                        "bbox_size": (64, 48), "bbox_mode": "xyxy", "keypoints": None, "keypoints_logits": None}
    # a second video whose frames have no person detection: nothing to pair
    for n in (5, 15):
        key = f"AG002.mp4/{n:06d}.png"
        objects[key] = [_obj("chair", (["unsure"], ["beneath"], ["sitting_on"]) if n == 5 else (["looking_at"], ["in"], ["touching"]))]
        persons[key] = {"bbox": np.zeros((0, 4), dtype=np.float32), "bbox_score": np.zeros(0, dtype=np.float32),
                        "bbox_size": (64, 48), "bbox_mode": "xyxy"}
    with open(ann / "object_bbox_and_relationship.pkl", "wb") as f:
        pickle.dump(objects, f)
    with open(ann / "person_bbox.pkl", "wb") as f:
        pickle.dump(persons, f)
    (ann / "frame_list.txt").write_text("\n".join(sorted(objects)) + "\n")
    size = (64, 48)
    if frames:
        folder = root / "frames" / "AG001.mp4"
        folder.mkdir(parents=True)
        for n in CUP_TRACK:
            Image.fromarray(colour_frame(COLOURS[n // 10 % len(COLOURS)], n, size)).save(folder / f"{n:06d}.png")
    if video:
        segment_video(root / "videos" / "AG001.mp4", [COLOURS[k % len(COLOURS)] for k in range(7)], 1.0, fps=fps, size=size)
    return ann


def write_gebc(root: Path, clip_name: str = "abseiling/vidA_000010_000020.mp4") -> tuple[Path, Path]:
    """gebc/val.json ({ytid: [boundaries]}) + a 6-segment clip whose colour changes every 1.5 s."""
    def boundary(k, t, before, after, subject="a man in blue"):
        return {"boundary_id": f"vidA_{k}", "timestamp": t, "prev_timestamp": t - 1.5 if k else 0.0,
                "next_timestamp": t + 1.5, "label": "change_of_action", "subject": subject, "status_before": before,
                "status_after": after, "action_of_cause": "x", "caption": f"{subject} {before} then {after}"}

    ann = {"vidA": [boundary(0, 1.5, "stands on a rope", "sits on a rope"),
                    boundary(1, 3.0, "sits on a rope", "hangs from a rope"),
                    boundary(2, 4.5, "hangs from a rope", "climbs up a rope"),
                    boundary(3, 6.0, "climbs up a rope", "holds a rope with one hand"),
                    boundary(4, 7.5, "holds a rope with one hand", "lies on the ground")]}
    path = root / "gebc" / "val.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(ann))
    videos = root / "kinetics"
    segment_video(videos / clip_name, COLOURS[:6], 1.5, fps=10)
    return path, videos


def write_youcook2(root: Path, face_image: np.ndarray | None = None) -> tuple[Path, Path]:
    """youcookii_annotations_trainval.json + raw_videos/training/101/ycA.mp4 (4 segments)."""
    db = {"database": {"ycA": {"duration": 8.0, "subset": "training", "recipe_type": "101",
                               "annotations": [{"segment": [0, 2], "id": 0, "sentence": "crack two eggs into a bowl"},
                                               {"segment": [2, 4], "id": 1, "sentence": "whisk the eggs"},
                                               {"segment": [4, 6], "id": 2, "sentence": "pour the eggs into the pan"},
                                               {"segment": [6, 8], "id": 3, "sentence": "fold the omelette"}],
                               "video_url": "https://www.youtube.com/watch?v=ycA"}}}
    path = root / "youcookii_annotations_trainval.json"
    path.write_text(json.dumps(db))
    videos = root / "raw_videos"
    size = (128, 128)
    colours = COLOURS[:4]

    def frame(k):
        seg = min(k // 20, 3)
        if face_image is not None and seg == 2:
            return face_image
        return colour_frame(colours[seg], k, size)

    from eqvl.video.synthetic import write_video

    write_video(videos / "training" / "101" / "ycA.mp4", 80, 10, size, frame)
    return path, videos


#: one video in the layout of the real GEB+ val.json: boundary "_1" has two annotators (ids 1A, 1B) on ONE
#: timestamp, as in 444 of val's 2,082 videos (timestamps as in val.json's "-N69Jdzk6B4"; captions ours)
GEBP_INSTANTS = [0.6691, 3.37536, 6.43828, 8.42891]
GEBP_END = 9.967
GEBP_COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (200, 30, 200)]


def write_gebc_multi(root: Path) -> tuple[Path, Path]:
    """val.json with A/B annotators on one instant + a 10 s clip whose colour changes at each instant."""
    def rec(k, letter, prev, t, nxt, subject, before, after):
        return {"boundary_id": f"-N69Jdzk6B4_{k}{letter}", "timestamp": t, "prev_timestamp": prev, "next_timestamp": nxt,
                "label": "Change of Action", "subject": subject, "status_before": before, "status_after": after,
                "action_of_cause": None, "caption": f"Subject: {subject} //Status_Before: {before} //Status_After: {after}"}

    t0, t1, t2, t3 = GEBP_INSTANTS
    hands = "human hands with yellow wrist bands"
    ann = {"-N69Jdzk6B4": [
        rec(0, "A", 0, t0, t1, hands, "resting on a silver tray", "lift a piece of meat"),
        rec(1, "A", t0, t1, t2, hands, "holding meat in both hands", "drop the meat into the tray"),
        rec(1, "B", t0, t1, t2, "human hands", "holding a piece of meat over the foil tray", "let the meat fall into the tray"),
        rec(2, "A", t1, t2, t3, hands, "pressing the meat into the tray", "shift both hands upwards"),
        rec(3, "A", t2, t3, GEBP_END, hands, "picking meat from the tray", "rest both hands on the table"),
    ]}
    path = root / "gebplus" / "val.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(ann))
    edges = [0.0] + GEBP_INSTANTS

    def frame(k):
        t = k / 10
        seg = max(i for i, e in enumerate(edges) if t >= e)
        return colour_frame(GEBP_COLOURS[seg], k, (64, 48))

    from eqvl.video.synthetic import write_video

    write_video(root / "kinetics" / "cooking" / "-N69Jdzk6B4_000000_000010.mp4", 100, 10, (64, 48), frame)
    return path, root / "kinetics"
