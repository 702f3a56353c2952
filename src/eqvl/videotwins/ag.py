"""Action Genome -> EQ-AG candidates (EqBen appendix B.1).

Reads the official pickles (`object_bbox_and_relationship.pkl`, `person_bbox.pkl`, keyed by
"<CharadesID>.mp4/<6-digit frame>.png") and vocabularies. Each annotated (frame, object) gets the
caption "The person is <attention> <object> which is <spatial> him/her."; two frames of one
video's object track are paired only when >= 2 of the 3 relationship sets (attention, spatial,
contacting) differ, and once a frame is chosen its next annotated frame is skipped. The pairing itself
runs after the frames are extracted (ag_pairs.py), so the image filters take part in choosing.

Frame ids are the names AG's `tools/dump_frames.py` gave the frames (`ffmpeg -i VIDEO %06d.png`,
numbered from 1), so id N is the video's decoded frame N-1 when frames are decoded from `--videos`.

Quirk of the real files (as the widely used loaders handle it): the .txt vocabularies spell
classes without separators ("closetcabinet", "lookingat") while the pickles use "closet/cabinet"
and "looking_at"; names are matched after removing non-letters.
"""

from __future__ import annotations

import pickle
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from eqvl.videotwins.ag_pairs import pair_track, pairable
from eqvl.videotwins.plan import FrameSpec, Plan, Track, VideoPlan
from eqvl.errors import DataError

TEMPLATE = "The person is {attention} {object} which is {spatial} him/her."
KEY_RE = re.compile(r"^(?P<video>[^/]+)\.mp4/(?P<frame>\d+)\.png$")
OBJECT_LAYOUT = "a dict keyed 'VIDEO.mp4/FRAME.png' -> list of {class, bbox, attention_relationship, spatial_relationship, contacting_relationship, metadata, visible}"
N_ATTENTION, N_SPATIAL, N_RELATIONS = 3, 6, 26
#: where this pipeline does what appendix B.1 does not say (also in manifest.json's settings)
DEPARTURES = {"frame_no_person": "frames whose person_bbox.pkl entry has no person box are skipped (the caption "
                                 "speaks of 'the person'); EqBen's appendix B.1 does not say it does this"}


@lru_cache(maxsize=4096)
def _norm(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


@lru_cache(maxsize=4096)
def readable(name: str) -> str:
    """Caption text of a class name: 'in_front_of' -> 'in front of', 'cup/glass/bottle' -> 'cup'."""
    return name.split("/")[0].replace("_", " ").strip()


@dataclass
class Vocab:
    objects: set[str]
    attention: set[str]
    spatial: set[str]
    contacting: set[str]


def read_vocab(folder: Path) -> Vocab:
    """object_classes.txt (36) and relationship_classes.txt (26: attention 3, spatial 6, contacting 17)."""
    lists = {}
    for name in ("object_classes.txt", "relationship_classes.txt"):
        path = folder / name
        if not path.is_file():
            raise DataError("Action Genome vocabulary file not found", path=str(path))
        words = [w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]
        if not words:
            raise DataError("empty vocabulary", path=str(path))
        lists[name] = [_norm(w) for w in words]
    rel = lists["relationship_classes.txt"]
    if len(rel) != N_RELATIONS:
        raise DataError(f"expected {N_RELATIONS} relationship classes (attention 3, spatial 6, contacting 17), got {len(rel)}",
                        path=str(folder / "relationship_classes.txt"))
    return Vocab(set(lists["object_classes.txt"]), set(rel[:N_ATTENTION]),
                 set(rel[N_ATTENTION:N_ATTENTION + N_SPATIAL]), set(rel[N_ATTENTION + N_SPATIAL:]))


def load_pickle(path: Path) -> Any:
    if not path.is_file():
        raise DataError("Action Genome annotation file not found", path=str(path))
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except UnicodeDecodeError:  # pickles written by Python 2
        with open(path, "rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
        raise DataError(f"not a readable pickle ({exc}); expected Action Genome's {path.name}", path=str(path)) from None


def _check_layout(objects: Any, persons: Any, folder: Path) -> None:
    obj_path = folder / "object_bbox_and_relationship.pkl"
    if not isinstance(objects, dict) or not objects:
        raise DataError(f"expected Action Genome's layout: {OBJECT_LAYOUT}; got {type(objects).__name__}", path=str(obj_path))
    key = next(iter(objects))
    if not isinstance(key, str) or not KEY_RE.match(key) or not isinstance(objects[key], list):
        raise DataError(f"expected Action Genome's layout: {OBJECT_LAYOUT}; first key is {key!r}", path=str(obj_path))
    per_path = folder / "person_bbox.pkl"
    if isinstance(persons, dict) and not persons:
        raise DataError("no person boxes at all (an empty dict): every frame would be skipped as frame_no_person",
                        path=str(per_path))
    if not isinstance(persons, dict) or (persons and not isinstance(next(iter(persons.values())), dict)):
        raise DataError("expected Action Genome's layout: a dict keyed 'VIDEO.mp4/FRAME.png' -> {bbox (N,4), bbox_score, bbox_size, ...}",
                        path=str(per_path))


def _relations(obj: dict, key: str, vocab: Vocab, path: Path) -> tuple[tuple[str, ...], ...] | None:
    """(attention, spatial, contacting) names, or None for an invisible / unannotated object."""
    if not obj.get("visible", True):
        return None
    out = []
    for field, allowed in (("attention_relationship", vocab.attention), ("spatial_relationship", vocab.spatial),
                           ("contacting_relationship", vocab.contacting)):
        value = obj.get(field)
        if value is None:  # AG gives None only for invisible objects; a visible one without relations is a broken record
            raise DataError("a visible object without relationships (expected a list; invisible objects have visible: False)",
                            path=str(path), field=f"{key}.{field}")
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise DataError(f"expected a list of relationship names, got {value!r}", path=str(path), field=f"{key}.{field}")
        for v in value:
            if _norm(v) not in allowed:
                raise DataError(f"{v!r} is not in relationship_classes.txt for {field}", path=str(path), field=f"{key}.{field}")
        out.append(tuple(value))
    return tuple(out)


def _has_person(persons: dict, key: str) -> bool:
    entry = persons.get(key)
    if not isinstance(entry, dict):
        return False
    bbox = entry.get("bbox")
    return bbox is not None and len(bbox) > 0


def caption_list(obj_class: str, rel: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every (attention, spatial) combination; the first is the twin's caption (as EqBen's AG lists)."""
    return [TEMPLATE.format(attention=readable(a), object=readable(obj_class), spatial=readable(s)) for a in rel[0] for s in rel[1]]


def differing(a: tuple, b: tuple) -> int:
    """How many of the 3 relationship sets differ between two annotations of one object."""
    return sum(frozenset(x) != frozenset(y) for x, y in zip(a, b))


def read_ag(annotations: str | Path, frames_dir: str | Path | None = None, videos_dir: str | Path | None = None,
            split: str = "all") -> Plan:
    """Build the EQ-AG plan from the official annotation folder; frames come from `frames_dir` or `videos_dir`."""
    folder = Path(annotations)
    if not folder.is_dir():
        raise DataError("Action Genome annotations folder not found", path=str(folder))
    vocab = read_vocab(folder)
    objects = load_pickle(folder / "object_bbox_and_relationship.pkl")
    persons = load_pickle(folder / "person_bbox.pkl")
    _check_layout(objects, persons, folder)
    obj_path = folder / "object_bbox_and_relationship.pkl"
    tracks: dict[str, dict[str, list[tuple[int, tuple]]]] = defaultdict(lambda: defaultdict(list))
    dropped: Counter = Counter()
    for key in sorted(objects):
        m = KEY_RE.match(key) if isinstance(key, str) else None
        if m is None:
            raise DataError("key is not 'VIDEO.mp4/FRAME.png'", path=str(obj_path), field=str(key))
        entries = objects[key]
        if not isinstance(entries, list):
            raise DataError(f"expected a list of objects, got {type(entries).__name__}", path=str(obj_path), field=key)
        has_person = _has_person(persons, key)
        for obj in entries:
            if not isinstance(obj, dict) or "class" not in obj:
                raise DataError("expected an object dict with 'class'", path=str(obj_path), field=key)
            if _norm(obj["class"]) not in vocab.objects:
                raise DataError(f"class {obj['class']!r} is not in object_classes.txt", path=str(obj_path), field=f"{key}.class")
            meta_set = (obj.get("metadata") or {}).get("set")
            if split != "all" and meta_set != split:
                dropped["frame_other_split"] += 1
                continue
            rel = _relations(obj, key, vocab, obj_path)
            if rel is None:
                dropped["frame_object_invisible"] += 1
            elif not rel[0] or not rel[1]:
                dropped["frame_no_attention_or_spatial"] += 1
            elif not has_person:
                dropped["frame_no_person"] += 1
            else:
                tracks[m["video"]][obj["class"]].append((int(m["frame"]), rel))
    return _plan(tracks, dropped, frames_dir, videos_dir, split)


def _plan(tracks, dropped: Counter, frames_dir, videos_dir, split: str) -> Plan:
    """One Track per (video, object); pairs are chosen after extraction (ag_pairs.py, select.py)."""
    plan = Plan(subset="ag", videos=[], dropped=dropped, settings={"split": split, "template": TEMPLATE, "min_differing": 2,
                                                                   "pairing": "after image filters", "departures": DEPARTURES})
    for video in sorted(tracks):
        frames: dict[str, FrameSpec] = {}
        video_tracks: list[Track] = []
        for obj_class in sorted(tracks[video]):
            track = sorted(tracks[video][obj_class])
            numbers, rels = [f for f, _ in track], [r for _, r in track]
            captions = [caption_list(obj_class, r) for r in rels]
            plan.candidates += len(numbers) * (len(numbers) - 1) // 2
            names = [f"{n:06d}" for n in numbers]
            for k in sorted(pairable(rels, captions)):
                # AG's tools/dump_frames.py writes `ffmpeg -i VIDEO %06d.png`: file N is decoded frame N-1
                frames[names[k]] = FrameSpec(name=names[k], index=numbers[k] - 1)
            video_tracks.append(Track(obj_class, names, numbers, rels, captions))
        if frames:
            source: str | None
            if frames_dir is not None:
                source, kind = str(Path(frames_dir) / f"{video}.mp4"), "frames"
            else:
                source, kind = (str(Path(videos_dir) / f"{video}.mp4") if videos_dir is not None else None), "video"
            plan.videos.append(VideoPlan(video, source, frames, [], source_kind=kind, tracks=video_tracks))
        else:  # no pair is possible: count the track's pairs by the relation rule alone
            for t in video_tracks:
                plan.dropped.update(pair_track(t.numbers, t.relations, lambda i, j: "same_caption")[1])
    return plan
