"""Issue 11 item 6: does any EqSim setting beat plain ITC fine-tuning in the demo?

Every run is the demo's own fine-tune: `prepare` runs the demo pipeline (`run_demo`, cache in
experiments/cache/) for the default preset's data, pre-trained start and start evaluation;
each `run` then calls the demo's `steps.train_phase` from that start with the preset's
fine-tuning phase and seed, and scores the demo's held-out twins (test) as the demo does, plus a
*validation* set of twins synthesised with another seed (VAL_SEED), on which settings are chosen.

  python experiments/eqsim_study.py prepare          # data + pre-training + start evaluation
  python experiments/eqsim_study.py run LABEL SEED   # one fine-tune + test/val evaluation
  python experiments/eqsim_study.py sweep [--jobs N] # every run not done yet, one process each
  python experiments/eqsim_study.py table            # study table + verdict (markdown)

Results: experiments/results/eqsim_study/LABEL-sSEED.json (one per run).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
OUT = HERE / "out" / "eqsim_study"
RESULTS = HERE / "results" / "eqsim_study"
VAL_SEED = 1  # the demo's data uses synth seed 0
SEEDS = (0, 1, 2)
ALPHAS = (0.0, 0.04, 0.1)
BETAS = (0.2, 0.5, 1.0)


def label(alpha: float, beta: float, close: str = "topk", norm: str = "softmax") -> str:
    return f"a{alpha:g}_b{beta:g}_{close}_{norm}"


def options(lab: str) -> dict:
    """The TrainConfig fields of a setting label (see `label`). 'itc' is plain ITC trained as
    itc+eqsim with beta 0: a weight-0 term is not added to the loss (CombinedLoss), so training is
    exactly `--loss itc` while EqSim's raw means are measured at every step (`_finetune`)."""
    if lab == "itc":
        return {"eqsim_alpha": 0.0, "eqsim_beta": 0.0}
    a, b, close, norm = lab.split("_")
    return {"eqsim_alpha": float(a[1:]), "eqsim_beta": float(b[1:]), "eqsim_close": close, "eqsim_norm": norm}


def grid() -> list[str]:
    return [label(a, b) for a in ALPHAS for b in BETAS]


def study_config(lab: str | None = None, seed: int = 0):
    from eqvl.demo.config import preset

    cfg = preset()
    cfg.name = "eqsim-study"
    cfg.seeds = [seed]
    if lab is None:
        cfg.variants, cfg.variant_options = {"itc": "itc"}, {}
    else:
        cfg.variants, cfg.variant_options = {lab: "itc+eqsim"}, {lab: options(lab)}
    return cfg


def val_twins() -> Path:
    """Twins only (no training rows), the demo's scene options, another seed; cached."""
    from eqvl.demo import synth_adapter
    from eqvl.demo.step_cache import StepCache

    cfg = study_config()
    opts = {k: v for k, v in cfg.synth.items() if k not in ("train", "train_mix")} | {"train": 0, "seed": VAL_SEED}
    folder, _ = StepCache(CACHE).run("valtwins", {"synth": opts}, lambda d: synth_adapter.generate(opts, d, progress=False))
    return folder


def _cached(step: str, match) -> tuple[Path, dict]:
    """The one finished cache folder of `step` whose stored key satisfies `match`."""
    for path in sorted(CACHE.glob(f"{step}-*/step.json")):
        rec = json.loads(path.read_text())
        if match(rec["key"]):
            return path.parent, rec
    raise SystemExit(f"no finished {step} step in {CACHE}: run `eqsim_study.py prepare` first")


def _finetune(work: Path, cfg, lab: str, seed: int, start: Path, data_dir: Path, model_cfg: Path) -> dict:
    """The demo's fine-tune (steps.train_phase, same start/phase/seed) and its twin evaluation
    (test: the demo's held-out twins; val: VAL_SEED's twins); the checkpoint is not kept."""
    import numpy as np

    from eqvl.demo import steps
    from eqvl.io import read_json, write_json_atomic
    from eqvl.models import load_encoder

    try:
        from eqvl.evaluation import evaluate, read_score_file, write_score_file

        def save(path: Path, res) -> None:
            write_score_file(path, res)

        def image_gaps(path: Path):
            return read_score_file(path).equivariance["image"]
    except ImportError:  # the layout before eqvl.evaluation (commit 45c28ee, which the study ran on)
        from eqvl.commands.eval import scores_arrays
        from eqvl.evaluate import evaluate
        from eqvl.metrics import equivariance_scores

        def save(path: Path, res) -> None:
            np.savez(path, **scores_arrays(res))

        def image_gaps(path: Path):
            return equivariance_scores(np.load(path)["scores"])["image"]

    info = steps.train_phase(cfg, work / "train", data_dir, model_cfg, start, cfg.variants[lab], cfg.finetune, seed,
                             cfg.variant_options.get(lab, {}), progress=False)
    info["eqsim_max_mean_per_step"] = _TRACE[:]
    ckpt = work / "train" / info["checkpoint"]
    encoder = load_encoder(str(model_cfg), str(ckpt))
    val_dir = val_twins()
    sets = {"twins": data_dir / read_json(data_dir / "step.json")["info"]["twins_file"],
            "val_twins": val_dir / read_json(val_dir / "step.json")["info"]["twins_file"]}
    for name, path in sets.items():
        res = evaluate(encoder, "twins", path, batch_size=cfg.eval_batch_size, progress=False)
        write_json_atomic(work / f"{name}.json", res.results)
        save(work / f"{name}.npz", res)
    info["val_equivariance_image_median"] = float(np.median(image_gaps(work / "val_twins.npz")))
    ckpt.unlink()
    info["checkpoint"] = None
    return info


_TRACE: list[float] = []


def _instrument() -> None:
    """Record, at every training step, the largest of EqSim's raw batch means (the hinge is off at a
    step iff that is <= alpha): the trainer logs parts only every few steps."""
    import torch

    from eqvl.losses import eqsim

    forward = eqsim.EqSimLoss.forward

    def traced(self, b):
        parts = forward(self, b)
        if self.training and torch.is_grad_enabled():
            _TRACE.append(max(float(v) for name, v, _ in parts if name in eqsim.TERMS))
        return parts

    eqsim.EqSimLoss.forward = traced


def cmd_prepare() -> None:
    from eqvl.demo.pipeline import run_demo

    t0 = time.time()
    run_demo(study_config(), OUT / "prepare", cache_dir=CACHE, overwrite=True, progress=False, jobs=1)
    val_twins()
    print(f"prepared in {time.time() - t0:.0f}s wall, {_cpu():.0f}s CPU")


def cmd_run(lab: str, seed: int) -> None:
    import torch

    from eqvl.demo import steps
    from eqvl.demo.step_cache import StepCache, config_hash
    from eqvl.io import read_json, write_json_atomic

    t0 = time.time()
    _instrument()
    cfg = study_config(lab, seed)
    pre_dir, pre = _cached("pretrain", lambda k: k["phase"] == cfg.pretrain.key() and k["model"] == cfg.model)
    data_dir, _ = _cached("data", lambda k: k["synth"] == cfg.synth)
    model_cfg = CACHE / f"model-{config_hash(cfg.model)}.json"
    start = pre_dir / pre["info"]["checkpoint"]
    key = {"start": pre["key"], "loss": cfg.variants[lab], "options": options(lab), "phase": cfg.finetune.key(),
           "seed": seed, "study": "twins+val-v1"}
    folder, reused = StepCache(CACHE).run("studyft", key, lambda d: _finetune(d, cfg, lab, seed, start, data_dir, model_cfg))
    info = read_json(folder / "step.json")
    test = steps.flat_metrics(folder)
    val = read_json(folder / "val_twins.json")
    curve = info["info"].get("metrics", [])
    eq_parts = sorted({k for m in curve for k in m if k.startswith("eqsim")})
    record = {
        "label": lab, "seed": seed, "options": options(lab), "finetune": cfg.finetune.key(), "test": test,
        "val": {"metrics": val["metrics"], "subsets": val.get("subsets", {}),
                "equivariance_image_median": info["info"]["val_equivariance_image_median"]},
        "curve_steps": [m.get("step") for m in curve],
        "curve_eqsim": {k: [m.get(k) for m in curve] for k in eq_parts},
        "eqsim_max_mean_per_step": info["info"].get("eqsim_max_mean_per_step"),
        "seconds_computed": info.get("seconds"), "reused": reused,
        "wall_s": time.time() - t0, "cpu_s": _cpu(), "threads": torch.get_num_threads(),
    }
    write_json_atomic(RESULTS / f"{lab}-s{seed}.json", record, overwrite=True)
    print(f"{lab} seed {seed}: test group {test['twins/group']:.3f}, val group {val['metrics']['group']:.3f}, "
          f"{record['wall_s']:.0f}s wall, {record['cpu_s']:.0f}s CPU")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def _done(lab: str, seed: int) -> bool:
    return (RESULTS / f"{lab}-s{seed}.json").exists()


def _load() -> dict[str, dict[int, dict]]:
    runs: dict[str, dict[int, dict]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        rec = json.loads(path.read_text())
        runs.setdefault(rec["label"], {})[rec["seed"]] = rec
    return runs


def _val_mean(runs: dict[int, dict]) -> float:
    return sum(r["val"]["metrics"]["group"] for r in runs.values()) / len(runs)


def best_of(labels: list[str], runs: dict[str, dict[int, dict]]) -> str | None:
    """Highest mean validation group score among settings with every seed done (ties: first listed)."""
    full = [lab for lab in labels if len(runs.get(lab, {})) == len(SEEDS)]
    return max(full, key=lambda lab: _val_mean(runs[lab])) if full else None


def derive(runs: dict[str, dict[int, dict]]) -> None:
    """A margin alpha that every step's raw means stay under along ITC's own trajectory (same start,
    data order and seed) never switches the hinge on, so that run *is* the ITC run, for any beta:
    the term adds exactly 0 to the loss and to every gradient. Write those records from ITC's."""
    from eqvl.io import write_json_atomic

    for seed, base in runs.get("itc", {}).items():
        peak = max(base["eqsim_max_mean_per_step"])
        for lab in grid():
            alpha = options(lab)["eqsim_alpha"]
            if alpha > 0 and peak <= alpha and not _done(lab, seed):
                rec = dict(base, label=lab, options=options(lab), derived_from="itc",
                           reason=f"largest raw batch mean over ITC's {len(base['eqsim_max_mean_per_step'])} steps "
                                  f"{peak:.3g} <= alpha {alpha:g}: hinge never on, training identical to itc")
                write_json_atomic(RESULTS / f"{lab}-s{seed}.json", rec, overwrite=True)


def plan(runs: dict[str, dict[int, dict]]) -> list[tuple[str, int]]:
    """Runs still to do, most informative first: ITC and alpha 0 (the default beta first), the
    close-set and normalisation variants at the best alpha/beta, then larger margins that `derive`
    could not settle."""
    todo: list[tuple[str, int]] = [("itc", s) for s in SEEDS]
    todo += [(label(0.0, b), s) for b in (0.5, 0.2, 1.0) for s in SEEDS]
    best = best_of(grid(), runs)
    if best is not None:
        a, b = options(best)["eqsim_alpha"], options(best)["eqsim_beta"]
        extra = [label(a, b, "sample", "softmax"), label(a, b, "topk", "sigmoid"), label(a, b, "topk", "none")]
        todo += [(lab, s) for s in SEEDS for lab in extra]
    if all(_done("itc", s) for s in SEEDS):  # before that, derive() may still settle them
        todo += [(label(a, b), s) for a in ALPHAS[1:] for b in BETAS for s in SEEDS]
    return [(lab, s) for lab, s in todo if not _done(lab, s)]


def cmd_sweep(jobs: int) -> None:
    """One process per run (1 torch thread each), `jobs` at a time; re-plans after each run."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    running: dict[tuple[str, int], subprocess.Popen] = {}
    while True:
        for key, proc in list(running.items()):
            if proc.poll() is not None:
                print(f"{time.strftime('%H:%M:%S')} finished {key} rc={proc.returncode}", flush=True)
                del running[key]
        derive(_load())
        todo = [k for k in plan(_load()) if k not in running]
        if not todo and not running:
            break
        while todo and len(running) < jobs:
            lab, seed = todo.pop(0)
            log = open(HERE / "logs" / f"eqsim_study_{lab}-s{seed}.log", "w")
            print(f"{time.strftime('%H:%M:%S')} start {lab} seed {seed}", flush=True)
            running[(lab, seed)] = subprocess.Popen([sys.executable, __file__, "run", lab, str(seed)], env=env,
                                                    stdout=log, stderr=subprocess.STDOUT)
        time.sleep(5)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare")
    r = sub.add_parser("run")
    r.add_argument("label")
    r.add_argument("seed", type=int)
    s = sub.add_parser("sweep")
    s.add_argument("--jobs", type=int, default=1)
    sub.add_parser("table")
    args = ap.parse_args()
    if args.cmd == "prepare":
        cmd_prepare()
    elif args.cmd == "run":
        cmd_run(args.label, args.seed)
    elif args.cmd == "sweep":
        cmd_sweep(args.jobs)
    else:
        from eqsim_study_table import print_table  # noqa: E402 (sibling script)

        print_table(_load())


if __name__ == "__main__":
    main()
