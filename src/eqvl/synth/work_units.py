"""The worker side of `eqvl synth`: one work unit (split, subset, index) = sample a twin,
caption it, render and write its images, and return its records (twins.jsonl /
triplets.jsonl lines, train.csv rows). The pool runs units in batches (`run_batch`).

Every item's randomness comes from its own seed (seed, split, subset, index), so an item's
bytes do not depend on which worker made it or when. Images are renamed into place whole;
with --resume an existing image that decodes at the right size is kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from eqvl.io import is_storage_full, storage_full
from eqvl.synth.config import SUBSETS, SynthConfig
from eqvl.synth.render import render_twin
from eqvl.synth.rng import ItemGenerator
from eqvl.synth import sprites
from eqvl.synth.scene import Scene
from eqvl.synth.twins import Twin, make_twin

SPLIT_CODES = {"twins": 1, "train": 2}
SUBSET_CODES = {name: i + 1 for i, name in enumerate(SUBSETS)}

Unit = tuple[str, str, int]  # (split, subset or "", index)


def item_rng(seed: int, split: str, subset: str, index: int) -> np.random.Generator:
    """The generator of one work item; independent of every other item. Its numbers are
    those of `np.random.default_rng` on the same seed sequence (rng.ItemGenerator)."""
    key = (SPLIT_CODES[split], SUBSET_CODES.get(subset, 0), index)
    return ItemGenerator(np.random.PCG64(np.random.SeedSequence(entropy=seed, spawn_key=key)))


def train_subset(rng: np.random.Generator, mix: dict[str, float]) -> str:
    """Draw a training item's subset from the normalised mix."""
    names = list(mix)
    return names[int(np.searchsorted(np.cumsum([mix[n] for n in names]), rng.random() * 0.999999, side="right"))]


_CFG: SynthConfig | None = None
_OUT: Path | None = None


def init_worker(cfg: SynthConfig, out: str, tune_malloc: bool = False) -> None:
    """Pool initializer: the options and output folder every item of this run shares.

    `tune_malloc` (worker processes only, they exit at the end): keep freed memory in the
    heap instead of giving it back to the kernel after every large numpy temporary. Workers are
    spawned (eqvl.processes), so each builds its sprite tables once here (~0.8 s, in parallel).
    """
    global _CFG, _OUT
    _CFG, _OUT = cfg, Path(out)
    if tune_malloc:
        keep_heap()
        sprites.warm_up(tuple(cfg.categories))


def keep_heap() -> bool:
    """glibc: serve allocations up to 64 MB from the heap and trim it only past 256 MB.

    By default every array above ~128 KB-32 MB is a fresh mmap, or the heap top is
    trimmed after it is freed, so the next one page-faults all its memory again: at
    224 px that kernel time was as large as the arithmetic (a sprite cache miss 1.5 ms
    -> 0.7 ms, most of it system time). Returns whether it applied (False off glibc).
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 64 << 20)) and bool(libc.mallopt(m_trim_threshold, 256 << 20))
    except (OSError, AttributeError):
        return False


def _png_ok(path: Path, size: int) -> str | None:
    """sha256 of an existing, decodable PNG of the right size; None if absent or broken."""
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG" or im.size != (size, size):
                return None
            im.load()
    except (OSError, ValueError, SyntaxError):
        return None
    return hashlib.sha256(data).hexdigest()


def _write_bytes(path: str, data: bytes) -> None:
    """One open/write/close, no temporary name, no fsync: file creation dominates at 64 px.

    A crash can leave a truncated image under its final name; that is safe because the
    manifest is written last (a folder without it is unfinished) and --resume keeps only
    images that decode completely at the right size (`_png_ok`).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        if is_storage_full(exc):  # disk full: one line naming the file; the partial image goes
            os.unlink(path)
            raise storage_full(path, exc, len(data)) from None
        raise
    finally:
        os.close(fd)


def _images(twin: Twin, names: list[str], keep: list[int], cfg: SynthConfig, out: Path) -> list[tuple[str, str]]:
    """Render (or, on resume, reuse) the images of a twin; returns (relative path, sha256)."""
    done: list[tuple[str, str]] = []
    todo = []
    for k in keep:
        sha = _png_ok(out / names[k], cfg.size) if cfg.resume else None
        if sha is None:
            todo.append(k)
        else:
            done.append((names[k], sha))
    if todo:
        # always render every kept scene together, so the bytes never depend on what resume skipped
        rendered_all = render_twin([twin.scenes[k] for k in keep], cfg.size, masks=False)
        folder = str(out)  # plain strings: pathlib joins cost more than the write at 64 px
        for k in todo:
            data = rendered_all[keep.index(k)].to_png(cfg.png_level())
            _write_bytes(f"{folder}/{names[k]}", data)
            done.append((names[k], hashlib.sha256(data).hexdigest()))
    return sorted(done)


def twin_line(head: dict[str, Any], scenes: tuple[Scene, Scene] | list[Scene]) -> str:
    """The twins.jsonl line: `json.dumps(head | {"scene_0": ..., "scene_1": ...}) + "\\n"`, same
    text, but what the two scenes share is encoded once (float repr dominates the encoding).

    Shared parts are recognised by identity (`Scene.copy` shares camera, light and
    background, and an unchanged object's clone holds the very same values), so an equal
    but separately made value is simply encoded again.
    """
    memo: dict[tuple, str] = {}
    scene_parts = "".join(f', "scene_{k}": {_scene_json(scene, memo)}' for k, scene in enumerate(scenes))
    return json.dumps(head)[:-1] + scene_parts + "}\n"


def _scene_json(scene: Scene, memo: dict[tuple, str]) -> str:
    """json.dumps(scene.to_dict()), reusing the encodings in `memo`."""
    objects = ", ".join(_dumps_once(memo, tuple(map(id, vars(o).values())), vars(o)) for o in scene.objects)
    cam, light, bg = scene.camera, scene.light, scene.background
    setting = {"camera": vars(cam), "light": vars(light), "background": vars(bg)}  # tuples encode as lists
    encoded = _dumps_once(memo, (id(cam), id(light), id(bg)), setting)
    return f'{{"objects": [{objects}], {encoded[1:]}'


def _dumps_once(memo: dict[tuple, str], key: tuple, value: dict[str, Any]) -> str:
    text = memo.get(key)
    if text is None:
        text = memo[key] = json.dumps(value)
    return text


def _texts(items: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [t for t, _ in items], [k for _, k in items]


TRAIN_FIELDS = ("filepath", "title", "hard_negatives", "hard_positives", "hard_negative_types", "hard_positive_types")


def csv_line(row: dict[str, str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter="\t", lineterminator="\n").writerow([row[f] for f in TRAIN_FIELDS])
    return buf.getvalue()


def run_batch(units: list[Unit]) -> dict[str, Any]:
    """Several consecutive work items in one call, so one small result goes back through the
    pool per batch instead of per item: their lines joined, their files, counts by subset."""
    lines: dict[str, list[str]] = {"twins": [], "triplets": [], "train": []}
    batch: dict[str, Any] = {"units": len(units), "files": [], "twin_counts": {}, "train_counts": {}, "triplet_rows": 0}
    for unit in units:
        res = run_unit(unit)
        for key, part in lines.items():
            part += res[key]
        batch["files"] += res["files"]
        batch["triplet_rows"] += len(res["triplets"])
        for key, n in (("twin_counts", len(res["twins"])), ("train_counts", len(res["train"]))):
            if n:
                batch[key][res["subset"]] = batch[key].get(res["subset"], 0) + n
    batch.update((key, "".join(part)) for key, part in lines.items())
    return batch


def run_unit(unit: Unit, cfg: SynthConfig | None = None, out: Path | None = None) -> dict[str, Any]:
    """Build one work item: sample, caption, render, write its images; return its records,
    already serialised (twins.jsonl / triplets.jsonl lines, train.csv lines), so that
    little goes back through the pool and the parent only concatenates."""
    cfg, out = cfg or _CFG, out or _OUT
    if cfg is None or out is None:
        raise ValueError("run_unit needs cfg and out, or a worker initialised with them")
    split, subset, index = unit
    rng = item_rng(cfg.seed, split, subset, index)
    if split == "train":
        subset = train_subset(rng, cfg.mix())
    twin = make_twin(rng, subset, cfg)
    result: dict[str, Any] = {"subset": subset, "twins": [], "triplets": [], "train": [], "files": []}
    if split == "twins":
        _twin_records(result, twin, index, rng, cfg, out)
    else:
        _train_records(result, twin, index, rng, cfg, out)
    return result


def _twin_records(result: dict[str, Any], twin: Twin, index: int, rng: np.random.Generator, cfg: SynthConfig, out: Path) -> None:
    """Both images, the twins.jsonl line and a triplets.jsonl line per image."""
    subset, captions = twin.subset, twin.captions
    tid = f"{subset}-{index:05d}"
    names = [f"images/twins/{tid}_{k}.png" for k in (0, 1)]
    result["files"] = _images(twin, names, [0, 1], cfg, out)
    head = {
        "id": tid, "subset": subset, "image_0": names[0], "image_1": names[1],
        "caption_0": captions[0], "caption_1": captions[1], "change": twin.change,
    }
    result["twins"].append(twin_line(head, twin.scenes))
    for k in (0, 1):
        negs, poss = twin.rewrites(k, rng, cfg)
        pos = poss[int(rng.integers(len(poss)))]
        neg = negs[int(rng.integers(len(negs)))]
        triplet = {
            "id": f"{tid}-{k}", "subset": subset, "image": names[k], "caption": captions[k],
            "positive": pos[0], "negative": neg[0], "positive_type": pos[1], "negative_type": neg[1],
            "twin": tid,
        }
        result["triplets"].append(json.dumps(triplet) + "\n")


def _train_records(result: dict[str, Any], twin: Twin, index: int, rng: np.random.Generator, cfg: SynthConfig, out: Path) -> None:
    """The training images of a work item (a twin pair, or one scene) and their train.csv lines."""
    tid = f"train-{index:06d}"
    if cfg.train_twins:
        keep = [k for k in (0, 1) if 2 * index + k < cfg.train]
        names = [f"images/train/{tid}_{k}.png" for k in (0, 1)]
    else:
        keep, names = [0], [f"images/train/{tid}.png", ""]
    result["files"] = _images(twin, names, keep, cfg, out)
    for k in keep:
        negs, poss = twin.rewrites(k, rng, cfg)
        neg_t, neg_k = _texts(negs)
        pos_t, pos_k = _texts(poss)
        row = {
            "filepath": names[k], "title": twin.captions[k],
            "hard_negatives": json.dumps(neg_t), "hard_positives": json.dumps(pos_t),
            "hard_negative_types": json.dumps(neg_k), "hard_positive_types": json.dumps(pos_k),
        }
        result["train"].append(csv_line(row))
