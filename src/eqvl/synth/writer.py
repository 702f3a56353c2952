"""Write a synth folder: images/, twins.jsonl, triplets.jsonl, train.csv, manifest.json.

Every item's randomness comes from its own seed (seed, split, subset, index), so the
bytes written do not depend on --workers or on the order work finishes. Images are
renamed into place whole, so an interrupted run leaves only complete files, which
--resume keeps (after checking them) instead of rendering again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing as mp
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from eqvl import __version__
from eqvl.errors import EqvlError
from eqvl.io import atomic_open, read_json, write_json_atomic
from eqvl.synth.config import SUBSETS, SynthConfig
from eqvl.synth.render import render_twin, warm_up
from eqvl.synth.twins import Twin, make_twin

STATE_FILE = ".eqvl-synth-state.json"
OUTPUT_FILES = ("twins.jsonl", "triplets.jsonl", "train.csv", "manifest.json")
SPLIT_CODES = {"twins": 1, "train": 2}
SUBSET_CODES = {name: i + 1 for i, name in enumerate(SUBSETS)}

Unit = tuple[str, str, int]  # (split, subset or "", index)


def item_rng(seed: int, split: str, subset: str, index: int) -> np.random.Generator:
    """The generator of one work item; independent of every other item."""
    key = (SPLIT_CODES[split], SUBSET_CODES.get(subset, 0), index)
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


def train_subset(rng: np.random.Generator, mix: dict[str, float]) -> str:
    names = list(mix)
    return names[int(np.searchsorted(np.cumsum([mix[n] for n in names]), rng.random() * 0.999999, side="right"))]


def _units(cfg: SynthConfig) -> list[Unit]:
    units: list[Unit] = [("twins", s, i) for s in cfg.subsets for i in range(cfg.twins)]
    n_train = (cfg.train + 1) // 2 if cfg.train_twins else cfg.train
    units += [("train", "", i) for i in range(n_train)]
    return units


# ---------------------------------------------------------------- per-item work (runs in workers)

_CFG: SynthConfig | None = None
_OUT: Path | None = None


def _init(cfg: SynthConfig, out: str) -> None:
    global _CFG, _OUT
    _CFG, _OUT = cfg, Path(out)


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


def _write_bytes(path: Path, data: bytes) -> None:
    """Write then rename, so a crash never leaves a partial image under the final name
    (raw os calls: file creation dominates at 64 px)."""
    tmp = f"{path.parent}/.{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _images(twin: Twin, names: list[str], keep: list[int], cfg: SynthConfig, out: Path) -> list[tuple[str, str]]:
    """Render (or, on resume, reuse) the images of a twin; returns (relative path, sha256)."""
    done: list[tuple[str, str]] = []
    todo = []
    for k in keep:
        path = out / names[k]
        sha = _png_ok(path, cfg.size) if cfg.resume else None
        if sha is None:
            todo.append(k)
        else:
            done.append((names[k], sha))
    if todo:
        # always render every kept scene together, so the bytes never depend on what resume skipped
        rendered_all = render_twin([twin.scenes[k] for k in keep], cfg.size, masks=False)
        for k in todo:
            data = rendered_all[keep.index(k)].to_png(cfg.png_compress)
            _write_bytes(out / names[k], data)
            done.append((names[k], hashlib.sha256(data).hexdigest()))
    return sorted(done)


def _texts(items: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [t for t, _ in items], [k for _, k in items]


def run_unit(unit: Unit, cfg: SynthConfig | None = None, out: Path | None = None) -> dict[str, Any]:
    """Build one work item: sample, caption, render, write its images; return its records."""
    cfg, out = cfg or _CFG, out or _OUT
    split, subset, index = unit
    rng = item_rng(cfg.seed, split, subset, index)
    if split == "train":
        subset = train_subset(rng, cfg.mix())
    twin = make_twin(rng, subset, cfg)
    captions = twin.captions
    result: dict[str, Any] = {"subset": subset, "twins": [], "triplets": [], "train": [], "files": []}
    if split == "twins":
        tid = f"{subset}-{index:05d}"
        names = [f"images/twins/{tid}_{k}.png" for k in (0, 1)]
        result["files"] = _images(twin, names, [0, 1], cfg, out)
        result["twins"].append({
            "id": tid, "subset": subset, "image_0": names[0], "image_1": names[1],
            "caption_0": captions[0], "caption_1": captions[1], "change": twin.change,
            "scene_0": twin.scenes[0].to_dict(), "scene_1": twin.scenes[1].to_dict(),
        })
        for k in (0, 1):
            negs, poss = twin.rewrites(k, rng, cfg)
            pos = poss[int(rng.integers(len(poss)))]
            neg = negs[int(rng.integers(len(negs)))]
            result["triplets"].append({
                "id": f"{tid}-{k}", "subset": subset, "image": names[k], "caption": captions[k],
                "positive": pos[0], "negative": neg[0], "positive_type": pos[1], "negative_type": neg[1],
                "twin": tid,
            })
        return result
    tid = f"train-{index:06d}"
    if cfg.train_twins:
        keep = [k for k in (0, 1) if 2 * index + k < cfg.train]
        names = [f"images/train/{tid}_{k}.png" for k in (0, 1)]
    else:
        keep, names = [0], [f"images/train/{tid}.png", ""]
    result["files"] = _images(twin, names, keep, cfg, out)
    for k in keep:
        negs, poss = twin.rewrites(k, rng, cfg)
        if not cfg.train_twins:
            negs = [n for n in negs if n[1] != "twin"]
        neg_t, neg_k = _texts(negs)
        pos_t, pos_k = _texts(poss)
        result["train"].append({
            "filepath": names[k], "title": captions[k],
            "hard_negatives": json.dumps(neg_t), "hard_positives": json.dumps(pos_t),
            "hard_negative_types": json.dumps(neg_k), "hard_positive_types": json.dumps(pos_k),
        })
    return result


# ---------------------------------------------------------------- the folder

def _prepare(out: Path, cfg: SynthConfig) -> None:
    """Refuse, clear (--overwrite) or check (--resume) an existing output folder."""
    args = cfg.content_args()
    existing = out.exists() and any(out.iterdir())
    ours = (out / STATE_FILE).exists() or (out / "manifest.json").exists()
    if existing and not (cfg.overwrite or cfg.resume):
        raise EqvlError(f"{out} already exists and is not empty; pass --overwrite to replace it or --resume to finish an interrupted run")
    if existing and not ours:
        raise EqvlError(f"{out} is not empty and was not written by eqvl synth; refusing to touch it (choose a new folder)")
    if existing and cfg.resume:
        state = out / STATE_FILE if (out / STATE_FILE).exists() else out / "manifest.json"
        previous = read_json(state).get("arguments")
        if previous != json.loads(json.dumps(args)):
            diff = sorted(k for k in set(args) | set(previous or {}) if (previous or {}).get(k) != json.loads(json.dumps(args)).get(k))
            raise EqvlError(f"cannot --resume {out}: it was made with different arguments ({', '.join(diff)}); use --overwrite")
    if existing and cfg.overwrite:
        shutil.rmtree(out / "images", ignore_errors=True)
        for name in OUTPUT_FILES + (STATE_FILE,):
            (out / name).unlink(missing_ok=True)
    (out / "images" / "twins").mkdir(parents=True, exist_ok=True)
    (out / "images" / "train").mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / STATE_FILE, {"arguments": args, "eqvl_version": __version__})


def _results(cfg: SynthConfig, out: Path, units: list[Unit]) -> Iterator[dict[str, Any]]:
    if cfg.workers <= 1 or len(units) < 2:
        _init(cfg, str(out))
        yield from map(run_unit, units)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    chunk = max(1, min(64, len(units) // (cfg.workers * 8)))
    with mp.get_context(method).Pool(cfg.workers, initializer=_init, initargs=(cfg, str(out))) as pool:
        yield from pool.imap(run_unit, units, chunksize=chunk)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def readable(path: Path) -> None:
    """Atomic writes go through mkstemp (mode 0600); give data files the usual umask mode."""
    os.chmod(path, 0o666 & ~_umask())


def _write_text(path: Path, text: str) -> str:
    data = text.encode("utf-8")
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    readable(path)
    return hashlib.sha256(data).hexdigest()


def generate(cfg: SynthConfig) -> dict[str, Any]:
    """Write the whole folder described by `cfg`; returns the manifest."""
    cfg.validate()
    if not cfg.out:
        raise EqvlError("--out is required")
    out = Path(cfg.out)
    _prepare(out, cfg)
    warm_up(tuple(cfg.categories))
    units = _units(cfg)
    twins, triplets, train, files = [], [], [], []
    train_counts = {s: 0 for s in SUBSETS}
    results = _results(cfg, out, units)
    if cfg.progress:
        from tqdm import tqdm

        results = tqdm(results, total=len(units), desc="eqvl synth", unit="twin")
    for res in results:
        twins += res["twins"]
        triplets += res["triplets"]
        train += res["train"]
        train_counts[res["subset"]] += len(res["train"])
        files += res["files"]
    hashes: dict[str, str] = {}
    if twins:
        hashes["twins.jsonl"] = _write_text(out / "twins.jsonl", "".join(json.dumps(r) + "\n" for r in twins))
        hashes["triplets.jsonl"] = _write_text(out / "triplets.jsonl", "".join(json.dumps(r) + "\n" for r in triplets))
    if train:
        buf = io.StringIO()
        fields = ["filepath", "title", "hard_negatives", "hard_positives", "hard_negative_types", "hard_positive_types"]
        writer = csv.DictWriter(buf, fieldnames=fields, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(train)
        hashes["train.csv"] = _write_text(out / "train.csv", buf.getvalue())
    listing = sorted(files + list(hashes.items()))
    content = hashlib.sha256("".join(f"{p}\t{h}\n" for p, h in listing).encode()).hexdigest()
    by_subset = {s: sum(1 for t in twins if t["subset"] == s) for s in cfg.subsets}
    manifest = {
        "created_by": "eqvl synth",
        "eqvl_version": __version__,
        "seed": cfg.seed,
        "arguments": cfg.content_args(),
        "counts": {
            "twins": by_subset,
            "twins_total": len(twins),
            "triplets": len(triplets),
            "train_rows": len(train),
            "train_subsets": {s: n for s, n in train_counts.items() if n},
            "images": len(files),
        },
        "files": hashes,
        "content_hash": content,
        "content_hash_method": "sha256 over sorted lines '<relative path>\\t<sha256 of file>' of every image and data file",
    }
    write_json_atomic(out / "manifest.json", manifest)
    readable(out / "manifest.json")
    (out / STATE_FILE).unlink(missing_ok=True)
    return manifest

