"""The demo's steps in order, each cached (see `step_cache.py`), then aggregation and the report
(built by `report.py`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from eqvl.demo import steps
from eqvl.demo.claims import SeedMetrics, Verdict, all_verdicts
from eqvl.demo.config import START, DemoConfig
from eqvl.demo.report import build_report, results_json
from eqvl.demo.step_cache import StepCache, config_hash
from eqvl.errors import EqvlError
from eqvl.io import check_writable, read_json, write_json_atomic
from eqvl.report.write import write_report

OUTPUTS = ("report.html", "report.md", "results.json")


@dataclass
class DemoResult:
    table: SeedMetrics
    verdicts: list[Verdict]
    curves: dict[str, list[dict]]
    equivariance: dict[str, dict[str, np.ndarray]]
    timings: dict[str, float] = field(default_factory=dict)
    reused: dict[str, bool] = field(default_factory=dict)
    compute_seconds: dict[str, float] = field(default_factory=dict)
    data_info: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


def check_outputs(out: Path, overwrite: bool) -> None:
    """Fail before any work if the user's results would be replaced without --overwrite."""
    for name in OUTPUTS:
        try:
            check_writable(out / name, overwrite)
        except EqvlError:
            raise EqvlError(f"{out / name} already exists; pass `overwrite` to replace the demo's results "
                            "(finished steps are reused from the cache either way)", params=("overwrite",)) from None


class _StepRunner:
    """Runs the demo's cached steps in order: numbers them on the log ("[3/23] ...") and keeps
    each one's seconds, whether it was reused, and how long a reused one took when computed."""

    def __init__(self, cache: StepCache, total: int, log: Callable[[str], None]):
        self.cache, self.total, self.log = cache, total, log
        self.done = 0
        self.t_start = time.perf_counter()
        self.timings: dict[str, float] = {}
        self.reused: dict[str, bool] = {}
        self.compute_s: dict[str, float] = {}  # for cached steps: how long they took when computed

    def announce(self, label: str, note: str) -> None:
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {label}{note}  elapsed {time.perf_counter() - self.t_start:.0f}s")

    def record(self, label: str, name: str, key: Any, seconds: float, was_cached: bool) -> None:
        self.timings[label], self.reused[label] = seconds, was_cached
        computed = self.cache.seconds(name, key) if was_cached else None
        if computed is not None:
            self.compute_s[label] = computed

    def step(self, label: str, name: str, key: Any, fn: Callable[[Path], dict | None]) -> Path:
        self.announce(label, " (cached)" if self.cache.is_done(name, key) else "")
        t0 = time.perf_counter()
        path, was_cached = self.cache.run(name, key, fn)
        self.record(label, name, key, time.perf_counter() - t0, was_cached)
        return path


def run_demo(cfg: DemoConfig, out: str | Path, *, cache_dir: str | Path | None = None, overwrite: bool = False,
             progress: bool = True, log: Callable[[str], None] = print, argv: list[str] | None = None,
             jobs: int = 1, threads: int | None = None) -> DemoResult:
    """Run (or resume) every step and write report.html, report.md and results.json into `out`.
    `jobs` > 1 runs the fine-tunes in that many processes with `threads` // `jobs` threads each."""
    out = Path(out)
    check_outputs(out, overwrite)
    cache = StepCache(cache_dir or out / "cache")
    run = _StepRunner(cache, 2 + 1 + len(cfg.variants) * len(cfg.seeds), log)
    data_key = {"synth": cfg.synth, "engine": steps.synth_version(), "demo_data": steps.DATA_VERSION}
    data_dir = run.step("synthetic data", "data", data_key, lambda d: steps.make_data(cfg, d, progress=progress))
    data_info = read_json(data_dir / "step.json")["info"]
    model_cfg = cache.root / f"model-{config_hash(cfg.model)}.json"
    if not model_cfg.exists():
        write_json_atomic(model_cfg, cfg.model)

    # keyed by the bytes synth wrote, not by its source: a speed-up of the engine that writes the
    # same files regenerates the data (seconds) but reuses every trained model (minutes)
    data_id = data_info.get("content_hash") or data_key  # (a data step without a manifest: its inputs)
    pre_key = {"data": {"content": data_id, "demo_data": steps.DATA_VERSION}, "model": cfg.model,
               "phase": cfg.pretrain.key(), "seed": 0}
    pre_dir = run.step("pre-train (itc, from scratch)", "pretrain", pre_key,
                       lambda d: steps.train_phase(cfg, d, data_dir, model_cfg, None, "itc", cfg.pretrain, 0, {}, progress))
    pre_info = read_json(pre_dir / "step.json")["info"]
    pre_ckpt = pre_dir / pre_info["checkpoint"]
    evals: dict[tuple[str, int], Path] = {}
    curves: dict[str, list[dict]] = {START: pre_info.get("metrics", [])}
    evals[(START, 0)] = run.step("evaluate pre-trained start", "eval", {"ckpt": pre_key, "eval": steps.EVAL_VERSION},
                                 lambda d: steps.evaluate_checkpoint(cfg, d, data_dir, model_cfg, pre_ckpt, progress))
    tasks = _finetune_tasks(cfg, pre_key, (data_dir, model_cfg, pre_ckpt))
    if jobs > 1:
        for i, path, seconds, was_cached in _run_parallel(cache, tasks, jobs, threads, progress):
            variant, seed, label, key, _ = tasks[i]
            run.announce(label, " (cached)" if was_cached else f" done in {seconds:.0f}s")
            run.record(label, "finetune", key, seconds, was_cached)
            evals[(variant, seed)] = path
    else:
        for variant, seed, label, key, args in tasks:
            evals[(variant, seed)] = run.step(label, "finetune", key,
                                              _finetune_step(args, progress))
    for variant in cfg.variants:
        curves[variant] = read_json(evals[(variant, cfg.seeds[0])] / "step.json")["info"].get("metrics", [])
    table, equivariance = aggregate(evals)
    verdicts = all_verdicts(_c1_view(table, cfg), c1_model=cfg.c1_model)
    result = DemoResult(table, verdicts, curves, equivariance, timings=run.timings, reused=run.reused,
                        data_info=data_info)
    result.timings["total"] = time.perf_counter() - run.t_start
    result.compute_seconds = run.compute_s
    report = build_report(cfg, result, argv=argv)
    result.paths = write_report(report, out / "report.html", overwrite=overwrite)
    result.paths["results"] = write_json_atomic(out / "results.json", results_json(cfg, result), overwrite=overwrite)
    return result


#: the arguments of `_finetune_and_eval` after its work folder
FinetuneArgs = tuple[DemoConfig, Path, Path, Path, str, int, dict]
#: (variant, seed, label, cache key, arguments of `_finetune_and_eval`)
FinetuneTask = tuple[str, int, str, dict, FinetuneArgs]


def _finetune_tasks(cfg: DemoConfig, pre_key: dict, inputs: tuple[Path, Path, Path]) -> list[FinetuneTask]:
    """(variant, seed, label, cache key, arguments of `_finetune_and_eval`) for every fine-tune,
    seed-major: an interrupted run has whole seeds done, and `--n-seeds N` reuses them as they are.
    `inputs`: the data folder, the model config file and the pre-trained checkpoint."""
    data_dir, model_cfg, pre_ckpt = inputs
    tasks: list[FinetuneTask] = []
    for seed in cfg.seeds:
        for variant, loss in cfg.variants.items():
            options = cfg.variant_options.get(variant, {})
            ft_key = {"start": pre_key, "loss": loss, "options": options, "phase": cfg.finetune.key(), "seed": seed,
                      "eval": steps.EVAL_VERSION}
            args: FinetuneArgs = (cfg, data_dir, model_cfg, pre_ckpt, loss, seed, options)
            tasks.append((variant, seed, f"fine-tune {variant} seed {seed} + evaluate", ft_key, args))
    return tasks


def _run_parallel(cache: StepCache, tasks: list[FinetuneTask], jobs: int, threads: int | None,
                  progress: bool) -> Iterator[tuple[int, Path, float, bool]]:
    """Fine-tune in `jobs` spawned processes with `threads` // `jobs` torch threads each: small
    models use a core far better as one single-threaded process each than as one process with
    many threads. Yields (task index, folder, seconds, reused) as the runs finish."""
    import os
    from concurrent.futures import as_completed

    from eqvl.processes import process_executor

    per_job = max(1, (threads or os.cpu_count() or 1) // jobs)
    with process_executor(jobs) as pool:
        futures = {pool.submit(_finetune_job, str(cache.root), key, args, per_job): i
                   for i, (_, _, _, key, args) in enumerate(tasks)}
        bar = _bar(len(tasks), progress)
        for fut in as_completed(futures):
            folder, seconds, was_cached = fut.result()
            yield futures[fut], Path(folder), seconds, was_cached
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()


def _bar(n: int, progress: bool):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=n, desc="fine-tune + evaluate", unit="run")


def _finetune_job(root: str, key: dict, args: FinetuneArgs, threads: int) -> tuple[str, float, bool]:
    """One cached fine-tune + evaluation in a worker process (see `_run_parallel`)."""
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    path, was_cached = StepCache(root).run("finetune", key, _finetune_step(args, False))
    return str(path), time.perf_counter() - t0, was_cached


def _finetune_step(args: FinetuneArgs, progress: bool) -> Callable[[Path], dict]:
    """The cached step of one fine-tune: `_finetune_and_eval` in the step's work folder."""
    return lambda work: _finetune_and_eval(work, *args, progress=progress)


def _finetune_and_eval(work: Path, cfg: DemoConfig, data_dir: Path, model_cfg: Path, start: Path, loss: str, seed: int,
                       options: dict, progress: bool = True) -> dict:
    info = steps.train_phase(cfg, work / "train", data_dir, model_cfg, start, loss, cfg.finetune, seed, options, progress)
    ckpt = work / "train" / info["checkpoint"]
    info["checkpoint"] = str(Path("train") / info["checkpoint"])
    info.update(steps.evaluate_checkpoint(cfg, work, data_dir, model_cfg, ckpt, progress))
    if not cfg.keep_checkpoints:
        ckpt.unlink(missing_ok=True)  # the results are what the cache keeps; checkpoints are ~30 MB each
    return info


def aggregate(evals: dict[tuple[str, int], Path]) -> tuple[SeedMetrics, dict[str, dict[str, np.ndarray]]]:
    """variant -> metric -> per-seed values, and variant -> side -> pooled equivariance gaps."""
    table: SeedMetrics = {}
    eq: dict[str, dict[str, list[np.ndarray]]] = {}
    for (variant, _seed), folder in sorted(evals.items(), key=lambda kv: kv[0][1]):
        row = table.setdefault(variant, {})
        for key, value in steps.flat_metrics(folder).items():
            row.setdefault(key, []).append(value)
        for side, gaps in steps.equivariance(folder).items():
            eq.setdefault(variant, {}).setdefault(side, []).append(gaps)
    pooled = {v: {s: np.concatenate(a) for s, a in sides.items()} for v, sides in eq.items()}
    return table, pooled


def _c1_view(table: SeedMetrics, cfg: DemoConfig) -> SeedMetrics:
    """Expose synth's subset names under the roles C1 compares (attribute / location / counting)."""
    view = {v: dict(m) for v, m in table.items()}
    for variant, metrics in view.items():
        for role, subset in cfg.c1_subsets.items():
            key = f"twins/{subset}/group"
            if key in table[variant]:
                metrics[f"twins/{role}/group"] = table[variant][key]
    return view
