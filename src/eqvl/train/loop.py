"""The training loop: `train(cfg) -> TrainResult`.

One step = `accum_freq` micro-batches, each a global batch of `batch_size x world` pairs,
encoded in one forward ([captions; hard negatives; hard positives] as one text batch),
gathered with gradient across ranks, scored by the combined loss, back-propagated.
Setup lives in `eqvl.train.setup`, checkpoint files in `eqvl.train.checkpoint`.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from eqvl.errors import EqvlError
from eqvl.losses import CombinedLoss, LossBatch, parse_loss_spec
from eqvl.precision import autocast as autocast_for
from eqvl.precision import input_dtype
from eqvl.train.checkpoint import LATEST, Checkpointer, prepare_output
from eqvl.train.config import TrainConfig
from eqvl.train.dataset import Augmenter, default_augmenter
from eqvl.train.distributed import DistInfo, gather_no_grad, gather_with_grad, init_distributed, mean_over_ranks
from eqvl.train.logs import MetricsLog
from eqvl.train.records import DataReport
from eqvl.train.schedule import cosine_lr, set_lr
from eqvl.train.setup import (DataPipeline, TrainState, build_data, build_loss, build_model, build_state, read_rows,
                              restore, seed_everything)

StepHook = Callable[[dict[str, Any]], None]
#: `train(augmenter=DEFAULT_AUGMENTER)`: eqvl.augment's, when installed
DEFAULT_AUGMENTER = "default"


@dataclass
class TrainResult:
    output_dir: Path
    final_checkpoint: Path | None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    data_report: DataReport | None = None
    steps: int = 0


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def forward_loss(model: torch.nn.Module, loss_fn: CombinedLoss, batch: Any, info: DistInfo, *, k: int, p: int,
                 step: int, seed: int, autocast: Callable = contextlib.nullcontext) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One micro-batch: encode, gather across ranks with gradient, apply every loss term."""
    with autocast():
        out = model(batch.images, batch.tokens)
    if isinstance(out, dict):
        img, txt, scale = out["image_features"], out["text_features"], out["logit_scale"]
    else:
        img, txt, scale = out[0], out[1], out[2]
    img, txt, scale = img.float(), txt.float(), scale.float()
    n, d = batch.n, img.shape[-1]
    mn = batch.neg_slots.numel()
    neg = pos = None
    if k:
        neg = txt.new_zeros(n * k, d).index_copy(0, batch.neg_slots, txt[n:n + mn]).view(n, k, d)
    if p:
        pos = txt.new_zeros(n * p, d).index_copy(0, batch.pos_slots, txt[n + mn:]).view(n, p, d)

    def mask(x):
        g = gather_no_grad(x.to(torch.uint8) if x.dtype == torch.bool else x, info)
        return g.bool() if x.dtype == torch.bool else g

    lb = LossBatch(
        image=gather_with_grad(img, info), text=gather_with_grad(txt[:n], info), logit_scale=scale,
        neg=gather_with_grad(neg, info), neg_mask=mask(batch.neg_mask) if k else None,
        neg_type=mask(batch.neg_type) if k else None, pos=gather_with_grad(pos, info),
        pos_mask=mask(batch.pos_mask) if p else None, start=info.rank * n, end=(info.rank + 1) * n, step=step, seed=seed)
    return loss_fn(lb)


def train(cfg: TrainConfig, *, on_step: StepHook | None = None, on_eval: StepHook | None = None,
          augmenter: Augmenter | None | str = DEFAULT_AUGMENTER) -> TrainResult:
    """Train (or resume) as `cfg` says; returns where the checkpoints and metrics are.

    `on_step(record)` is called after every optimiser step with the step's logged values
    (loss parts, lr, samples/s, data-wait fraction); `on_eval(record)` after each evaluation.
    `augmenter` makes hard negatives / positives a loss needs and the data lacks: the default is
    `eqvl.augment.augment_caption`; pass your own callable, or None to forbid generating them.
    """
    cfg.validate()
    parse_loss_spec(cfg.loss)
    if isinstance(augmenter, str):
        augmenter = default_augmenter()
    owns_group = not torch.distributed.is_initialized()
    info = init_distributed(cfg.device)
    try:
        return _Run(cfg, info, on_step, on_eval, augmenter).run()
    finally:
        if owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


class _Run:
    """One training run: set up, loop over epochs, checkpoint; holds what every part shares."""

    def __init__(self, cfg: TrainConfig, info: DistInfo, on_step: StepHook | None, on_eval: StepHook | None,
                 augmenter: Augmenter | None):
        self.cfg, self.info, self.on_step, self.on_eval, self.augmenter = cfg, info, on_step, on_eval, augmenter
        self.out = Path(cfg.output)
        self.log: MetricsLog | None = None

    def setup(self) -> None:
        cfg, info = self.cfg, self.info
        self.resume_path = prepare_output(cfg, info)
        probe = build_loss(cfg)  # bad loss flags fail here, before anything heavy is built
        seed_everything(cfg.seed)
        loaded = read_rows(cfg.train_data, cfg)  # a broken file fails before a large model is loaded
        self.bundle = build_model(cfg, info)
        self.data: DataPipeline = build_data(cfg, info, self.bundle, probe, cfg.train_data, loaded, self.augmenter)
        self.steps_per_epoch = self.data.batches_per_epoch // cfg.accum_freq
        if self.steps_per_epoch < 1:
            raise EqvlError(f"one epoch has {self.data.batches_per_epoch} batches, fewer than --accum-freq {cfg.accum_freq}")
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.max_steps = cfg.max_steps if cfg.max_steps is not None else self.total_steps
        loss_fn = build_loss(cfg, n_types=len(self.data.types)).to(info.device)
        loss_fn.train()
        self.state: TrainState = build_state(cfg, info, self.bundle.model, loss_fn)
        self.autocast = autocast_for(cfg.precision, info.device)
        self.input_dtype = input_dtype(cfg.precision)  # bf16 / fp16 weights take 16-bit images
        if self.resume_path is not None:
            from eqvl.train.checkpoint import load_checkpoint

            restore(self.state, load_checkpoint(self.resume_path), str(self.resume_path), cfg, info)
        self.saver = Checkpointer(self.out / "checkpoints", cfg, info, self.state, self.bundle.model_name, self.data.types)

    def start_log(self) -> None:
        cfg, info, step = self.cfg, self.info, self.state.step
        if not info.is_main:
            return
        resumed = self.resume_path is not None
        self.log = MetricsLog(self.out / "metrics.jsonl", self.out / "tensorboard" if cfg.tensorboard else None,
                              resume_step=step if resumed else None)
        self.log.log({"event": "resume" if resumed else "start", "step": step, "data": self.data.report.to_dict(),
                      "world": info.world, "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps,
                      "negative_types": self.data.types, "config": cfg.to_dict()})
        print(f"eqvl train: {self.data.report.summary()}", file=sys.stderr)
        if resumed:
            print(f"eqvl train: resumed from {self.resume_path} at step {step}", file=sys.stderr)

    def run(self) -> TrainResult:
        self.setup()
        self.start_log()
        final: Path | None = None
        self.window = (time.perf_counter(), 0.0, 0)  # (start, data wait, steps) since the last log line
        for epoch in range(self.state.start_epoch, self.cfg.epochs):
            if self.state.step >= self.max_steps:
                break
            final, finished = self.run_epoch(epoch)
            if not finished:
                break
        if self.log is not None:
            self.log.log({"event": "end", "step": self.state.step, "final_checkpoint": str(final) if final else None})
            self.log.close()
        return TrainResult(output_dir=self.out, final_checkpoint=final,
                           metrics=self.log.records if self.log is not None else [],
                           data_report=self.data.report, steps=self.state.step)

    def run_epoch(self, epoch: int) -> tuple[Path | None, bool]:
        """Steps until the epoch's batches or --max-steps run out; checkpoints; returns (last saved, finished)."""
        cfg, info, state, data = self.cfg, self.info, self.state, self.data
        first = state.skip if epoch == state.start_epoch else 0
        data.dataset.set_epoch(epoch)
        data.sampler.set_epoch(epoch, first)
        per_epoch = len(data.sampler) + first  # the sampler's length excludes skipped batches
        loader = DataLoader(data.dataset, batch_sampler=data.sampler, collate_fn=data.collate,
                            num_workers=cfg.workers, pin_memory=info.device.type == "cuda")
        it = iter(loader)
        consumed = first
        bar = tqdm(total=self.steps_per_epoch, initial=first // cfg.accum_freq, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not (info.is_main and cfg.progress), dynamic_ncols=True, leave=False)
        final: Path | None = None
        while consumed + cfg.accum_freq <= per_epoch and state.step < self.max_steps:
            values = self.train_step(it)
            consumed += cfg.accum_freq
            bar.update(1)
            end_of_epoch = consumed + cfg.accum_freq > per_epoch
            if state.step % cfg.log_every == 0 or self.on_step is not None or state.step == self.max_steps or end_of_epoch:
                self.record(values, epoch + consumed / per_epoch, bar)
            if cfg.save_every_steps and state.step % cfg.save_every_steps == 0 and consumed < per_epoch:
                final = self.saver.save([LATEST], epoch, consumed)
        bar.close()
        del it, loader
        if consumed + cfg.accum_freq <= per_epoch:  # stopped by --max-steps mid-epoch
            return self.saver.save([LATEST], epoch, consumed), False
        last = epoch + 1 == cfg.epochs or state.step >= self.max_steps
        names = [LATEST]
        if (epoch + 1) % cfg.save_every_epochs == 0 or last:
            names.insert(0, f"epoch_{epoch + 1}.pt")
        final = self.saver.save(names, epoch + 1, 0)
        if cfg.eval_benchmark and ((epoch + 1) % cfg.eval_every_epochs == 0 or last):
            from eqvl.train.periodic import evaluate_benchmarks

            evaluate_benchmarks(cfg, state.model, self.bundle, state.step, epoch + 1, self.log, self.on_eval, info)
        return final, True

    def train_step(self, it: Any) -> dict[str, torch.Tensor]:
        """`accum_freq` micro-batches, clip, optimiser step; returns the step's mean loss parts."""
        cfg, info, state, data = self.cfg, self.info, self.state, self.data
        set_lr(state.optimizer, cosine_lr(state.step, cfg.lr, cfg.warmup, self.total_steps))
        parts_acc: dict[str, torch.Tensor] = {}
        total_acc: Any = 0.0
        for micro in range(cfg.accum_freq):
            t0 = time.perf_counter()
            batch = next(it).to(info.device)
            batch.images = batch.images.to(self.input_dtype)
            start, wait, steps = self.window
            self.window = (start, wait + time.perf_counter() - t0, steps)
            last = micro == cfg.accum_freq - 1 or not info.enabled
            with contextlib.nullcontext() if last else state.ddp.no_sync():
                total, parts = forward_loss(state.ddp, state.loss_fn, batch, info, k=data.k, p=data.p, step=state.step,
                                            seed=cfg.seed, autocast=self.autocast)
                scaled = total / cfg.accum_freq
                (state.scaler.scale(scaled) if state.scaler is not None else scaled).backward()
            total_acc = total_acc + total.detach() / cfg.accum_freq
            for name, v in parts.items():
                parts_acc[name] = parts_acc.get(name, 0.0) + v.detach() / cfg.accum_freq
        if cfg.grad_clip_norm:
            if state.scaler is not None:
                state.scaler.unscale_(state.optimizer)
            torch.nn.utils.clip_grad_norm_(state.model.parameters(), cfg.grad_clip_norm)
        if state.scaler is not None:
            state.scaler.step(state.optimizer)
            state.scaler.update()
        else:
            state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            _unwrap(state.model).logit_scale.clamp_(0, math.log(100))
        state.step += 1
        start, wait, steps = self.window
        self.window = (start, wait, steps + 1)
        return {"loss": total_acc, **parts_acc}

    def record(self, parts: dict[str, torch.Tensor], epoch: float, bar: Any) -> None:
        """Log one step (averaged over ranks): metrics.jsonl, progress bar, the on_step hook."""
        cfg, info = self.cfg, self.info
        now = time.perf_counter()
        start, wait, steps = self.window
        elapsed = max(now - start, 1e-9)
        values = mean_over_ranks({n: float(v) for n, v in parts.items()}, info)
        rec = {"step": self.state.step, "epoch": epoch, "lr": self.state.optimizer.param_groups[0]["lr"], **values,
               "logit_scale": float(_unwrap(self.state.model).logit_scale.detach().exp()),
               "samples_per_s": steps * cfg.accum_freq * cfg.batch_size * info.world / elapsed,
               "data_wait": wait / elapsed}
        self.window = (now, 0.0, 0)
        if self.log is not None:
            self.log.log(rec)
            bar.set_postfix({**{n: f"{v:.3f}" for n, v in values.items()},
                             "samples/s": f"{rec['samples_per_s']:.0f}", "wait": f"{rec['data_wait']:.0%}"})
        if self.on_step is not None:
            self.on_step(rec)
