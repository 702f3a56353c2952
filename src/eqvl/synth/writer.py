"""Write a synth folder: images/, twins.jsonl, triplets.jsonl, train.csv, manifest.json.

Work items (items.py) are independent and seeded by their index, so the folder's bytes
do not depend on --workers. The data files and the manifest are written atomically at the
end; an interrupted run leaves complete images and a state file that --resume checks.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

from eqvl.version import __version__
from eqvl.errors import EqvlError
from eqvl.processes import process_pool
from eqvl.io import LOCK_NAME, atomic_open, read_json, write_json_atomic
from eqvl.synth.config import SUBSETS, SynthConfig
from eqvl.synth.work_units import TRAIN_FIELDS, Unit, csv_line, init_worker, item_rng, run_batch, train_subset
from eqvl.synth.sprites import clear_cache, warm_up

__all__ = ["STATE_FILE", "generate", "item_rng", "train_subset"]

STATE_FILE = ".eqvl-synth-state.json"
OUTPUT_FILES = ("twins.jsonl", "triplets.jsonl", "train.csv", "manifest.json")


def _units(cfg: SynthConfig) -> list[Unit]:
    units: list[Unit] = [("twins", s, i) for s in cfg.subsets for i in range(cfg.twins)]
    n_train = (cfg.train + 1) // 2 if cfg.train_twins else cfg.train
    units += [("train", "", i) for i in range(n_train)]
    return units


# ---------------------------------------------------------------- the folder

def _prepare(out: Path, cfg: SynthConfig) -> None:
    """Refuse, clear (--overwrite) or check (--resume) an existing output folder."""
    args = cfg.content_args()
    existing = out.exists() and any(not _bookkeeping(p.name) for p in out.iterdir())
    ours = (out / STATE_FILE).exists() or (out / "manifest.json").exists()
    if existing and not (cfg.overwrite or cfg.resume):
        raise EqvlError(f"{out} already exists and is not empty; pass `overwrite` to replace it or `resume` to finish an interrupted run", params=("overwrite", "resume"))
    if existing and not ours:
        raise EqvlError(f"{out} is not empty and was not written by eqvl synth; refusing to touch it (choose a new folder)")
    if existing and cfg.resume:
        state = out / STATE_FILE if (out / STATE_FILE).exists() else out / "manifest.json"
        previous = read_json(state).get("arguments") or {}
        now = json.loads(json.dumps(args))
        if previous != now:
            diff = sorted(k for k in set(now) | set(previous) if previous.get(k) != now.get(k))
            raise EqvlError(f"cannot `resume` {out}: it was made with different arguments ({', '.join(diff)}); use `overwrite`", params=("resume", "overwrite"))
    if existing and cfg.overwrite:
        shutil.rmtree(out / "images", ignore_errors=True)
        for name in OUTPUT_FILES + (STATE_FILE,):
            (out / name).unlink(missing_ok=True)
    # the state file first: a run killed right after it leaves a folder that --resume recognises
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / STATE_FILE, {"arguments": args, "eqvl_version": __version__})
    (out / "images" / "twins").mkdir(parents=True, exist_ok=True)
    (out / "images" / "train").mkdir(parents=True, exist_ok=True)


def _bookkeeping(name: str) -> bool:
    """Our own run's lock, or the temp file of a state write that a kill interrupted: not content."""
    return name == LOCK_NAME or (name.startswith(f".{STATE_FILE}.") and name.endswith(".tmp"))


#: below this many work items a --workers 1 run stays in this process (no pool to start)
IN_PROCESS_MAX_UNITS = 64
#: work items per task (one pickled result each)
BATCH_UNITS = 16


def _results(cfg: SynthConfig, out: Path, units: list[Unit]) -> Iterator[dict[str, Any]]:
    """Batches' records in order (items.run_batch). Items run in worker processes (one for
    --workers 1, unless the run is tiny), which tune malloc for numpy's large temporaries
    without touching the calling process; batches go out in chunks, records come back joined."""
    batches = [units[i:i + BATCH_UNITS] for i in range(0, len(units), BATCH_UNITS)]
    workers = min(cfg.workers, len(batches))
    if workers <= 1 and len(units) < IN_PROCESS_MAX_UNITS:
        init_worker(cfg, str(out))
        yield from map(run_batch, batches)
        return
    chunk = max(1, min(8, len(batches) // (workers * 4)))
    # spawned, parent-watched workers (eqvl.processes): numpy's BLAS threads already exist here
    with process_pool(workers, initializer=init_worker, initargs=(cfg, str(out), True)) as pool:
        yield from pool.imap(run_batch, batches, chunksize=chunk)


def _write_text(path: Path, text: str) -> str:
    data = text.encode("utf-8")
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return hashlib.sha256(data).hexdigest()


def _collect(results: Iterator[dict[str, Any]], n_units: int, progress: bool) -> dict[str, Any]:
    """Concatenate the batches' lines in order and add up their files and counts."""
    lines: dict[str, list[str]] = {"twins": [], "triplets": [], "train": []}
    total: dict[str, Any] = {"files": [], "twin_counts": {}, "train_counts": {}, "triplet_rows": 0}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_units, desc="eqvl synth", unit="twin")
    try:
        for batch in results:
            for key, part in lines.items():
                part.append(batch[key])
            total["files"] += batch["files"]
            total["triplet_rows"] += batch["triplet_rows"]
            for key in ("twin_counts", "train_counts"):
                for subset, n in batch[key].items():
                    total[key][subset] = total[key].get(subset, 0) + n
            if bar is not None:
                bar.update(batch["units"])
    finally:
        clear_cache()
        if bar is not None:
            bar.close()
    total.update((key, "".join(part)) for key, part in lines.items())
    total["twin_rows"] = sum(total["twin_counts"].values())
    total["train_rows"] = sum(total["train_counts"].values())
    return total


def _manifest(cfg: SynthConfig, collected: dict[str, Any], hashes: dict[str, str]) -> dict[str, Any]:
    files, train_counts = collected["files"], collected["train_counts"]
    listing = sorted(files + list(hashes.items()))
    content = hashlib.sha256("".join(f"{p}\t{h}\n" for p, h in listing).encode()).hexdigest()
    return {
        "created_by": "eqvl synth",
        "eqvl_version": __version__,
        "seed": cfg.seed,
        "arguments": cfg.content_args(),
        "counts": {
            "twins": {s: collected["twin_counts"].get(s, 0) for s in cfg.subsets},
            "twins_total": collected["twin_rows"],
            "triplets": collected["triplet_rows"],
            "train_rows": collected["train_rows"],
            "train_subsets": {s: train_counts[s] for s in SUBSETS if train_counts.get(s)},
            "images": len(files),
        },
        "files": hashes,
        "content_hash": content,
        "content_hash_method": "sha256 over sorted lines '<relative path>\\t<sha256 of file>' of every image and data file",
    }


def generate(cfg: SynthConfig) -> dict[str, Any]:
    """Write the whole folder described by `cfg`; returns the manifest."""
    cfg.validate()
    if not cfg.out:
        raise EqvlError("`out` is required", params=("out",))
    out = Path(cfg.out)
    _prepare(out, cfg)
    warm_up(tuple(cfg.categories))
    units = _units(cfg)
    collected = _collect(_results(cfg, out, units), len(units), cfg.progress)
    hashes: dict[str, str] = {}
    if collected["twin_rows"]:
        hashes["twins.jsonl"] = _write_text(out / "twins.jsonl", collected["twins"])
        hashes["triplets.jsonl"] = _write_text(out / "triplets.jsonl", collected["triplets"])
    if collected["train_rows"]:
        header = csv_line(dict(zip(TRAIN_FIELDS, TRAIN_FIELDS)))
        hashes["train.csv"] = _write_text(out / "train.csv", header + collected["train"])
    manifest = _manifest(cfg, collected, hashes)
    write_json_atomic(out / "manifest.json", manifest)
    (out / STATE_FILE).unlink(missing_ok=True)
    return manifest

