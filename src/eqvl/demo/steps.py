"""The demo's contact points with the rest of eqvl: synth (data), train (pre-train and
fine-tune), evaluate (twins, triplets). Each function fills one cache folder and returns
a small JSON-able dict; keeping them here keeps `pipeline.py` about order and caching only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from eqvl.errors import EqvlError
from eqvl.io import read_json, write_json_atomic

#: bump when the evaluation protocol of the demo changes (invalidates cached evaluations)
EVAL_VERSION = 2
#: bump when the demo's post-processing of synth's output changes
DATA_VERSION = 2
BENCHMARKS = ("twins", "triplets")


def synth_version() -> str:
    """Part of the data cache key: a hash of the synth engine's source, so that any change to
    the engine (new renderer, new caption templates) regenerates the data instead of reusing it."""
    import hashlib
    from importlib import resources

    digest = hashlib.sha256()
    try:
        files = sorted(resources.files("eqvl.synth").iterdir(), key=lambda f: f.name)
    except ModuleNotFoundError:
        return ""
    for f in files:
        if f.name.endswith(".py"):
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def make_data(cfg, work: Path, progress: bool = True) -> dict[str, Any]:
    """Training CSV (with hard negatives/positives), twins.jsonl and triplets.jsonl in `work`."""
    from eqvl.demo import synth_adapter

    return synth_adapter.generate(cfg.synth, work, progress=progress)


def train_phase(cfg, work: Path, data_dir: Path, model_cfg: Path, start: Path | None, loss: str, phase,
                seed: int, options: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """One `eqvl.train.train` run; returns the final checkpoint (relative to `work`) and the logged curve."""
    from eqvl.train import TrainConfig, train

    info = read_json(data_dir / "step.json")["info"] if (data_dir / "step.json").exists() else {}
    n_train = int(info.get("n_train") or cfg.synth.get("n_train") or phase.batch_size)
    per_epoch = max(1, n_train // phase.batch_size)
    tcfg = TrainConfig(
        model=str(model_cfg),
        pretrained=str(start) if start else "none",
        train_data=str(data_dir / info.get("train_csv", "train.csv")),
        loss=loss,
        epochs=max(1, math.ceil(phase.steps / per_epoch)),
        max_steps=phase.steps,
        batch_size=phase.batch_size,
        batch_groups=phase.batch_groups,
        max_hard_negatives=phase.max_hard_negatives,
        lr=phase.lr,
        wd=phase.weight_decay,
        warmup=phase.warmup,
        seed=seed,
        data_seed=seed,  # the same order for every variant of a seed
        preload=True,
        train_augment=False,
        output=str(work),
        overwrite=True,
        log_every=max(1, phase.steps // 50),
        progress=progress,
        save_every_epochs=10**9,
        loss_options=dict(options),
    )
    result = train(tcfg)
    if result.final_checkpoint is None:  # only a non-zero distributed rank saves none; the demo runs one process
        raise EqvlError(f"training in {work} wrote no final checkpoint")
    ckpt = Path(result.final_checkpoint)
    curve = [{k: v for k, v in m.items() if isinstance(v, (int, float))} for m in result.metrics]
    return {"checkpoint": str(ckpt.relative_to(work)) if ckpt.is_relative_to(work) else str(ckpt),
            "metrics": [m for m in curve if "step" in m]}


def evaluate_checkpoint(cfg, work: Path, data_dir: Path, model_cfg: Path, ckpt: Path, progress: bool = True) -> dict[str, Any]:
    """Evaluate on every demo benchmark: `<bench>.json` (results) + `<bench>.npz` (per-item scores)."""
    from eqvl.evaluation import evaluate, write_score_file
    from eqvl.models import load_encoder

    encoder = load_encoder(str(model_cfg), str(ckpt))
    info = read_json(data_dir / "step.json")["info"] if (data_dir / "step.json").exists() else {}
    out: dict[str, Any] = {}
    for bench in BENCHMARKS:
        source = data_dir / info[f"{bench}_file"] if info.get(f"{bench}_file") else data_dir
        result = evaluate(encoder, bench, source, batch_size=cfg.eval_batch_size, progress=progress)
        write_json_atomic(work / f"{bench}.json", result.results)
        write_score_file(work / f"{bench}.npz", result)
        out[bench] = result.results["metrics"]
    return {"eval": out}


def flat_metrics(folder: Path) -> dict[str, float]:
    """`twins/group`, `twins/location/group`, `triplets/joint_acc`, ... from one evaluation folder,
    plus medians of the equivariance gaps (C2's tightness)."""
    flat: dict[str, float] = {}
    for bench in BENCHMARKS:
        path = folder / f"{bench}.json"
        if not path.exists():
            continue
        res = read_json(path)
        for key, val in res["metrics"].items():
            if isinstance(val, (int, float)):
                flat[f"{bench}/{key}"] = float(val)
        for sub, vals in (res.get("subsets") or {}).items():
            for key, val in vals.items():
                if isinstance(val, (int, float)) and key != "n":
                    flat[f"{bench}/{sub}/{key}"] = float(val)
    for side, gaps in equivariance(folder).items():
        flat[f"twins/equivariance_{side}_median"] = float(np.median(gaps)) if gaps.size else float("nan")
    return flat


def equivariance(folder: Path) -> dict[str, np.ndarray]:
    """The per-twin equivariance gaps the evaluation stored with the twins' scores."""
    path = folder / "twins.npz"
    if not path.exists():
        return {}
    from eqvl.evaluation import read_score_file

    return read_score_file(path).equivariance
