"""The training loop: `train(cfg) -> TrainResult`.

One step = `accum_freq` micro-batches, each a global batch of `batch_size x world` pairs,
encoded in one forward ([captions; hard negatives; hard positives] as one text batch),
gathered with gradient across ranks, scored by the combined loss, back-propagated.
Setup lives in `eqvl.train.setup`, checkpoint files in `eqvl.train.checkpoint`, the
non-finite checks in `eqvl.train.guards`. The output folder is locked for the run's lifetime;
Ctrl-C finishes the current step, saves a resumable checkpoint and says how to continue.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.nn.parallel import DistributedDataParallel
from eqvl.processes import data_loader

from eqvl.errors import EqvlError
from eqvl.io import OutputLock
from eqvl.progress import progress_bar
from eqvl.precision import autocast as autocast_for
from eqvl.precision import input_dtype
from eqvl.train.checkpoint import LATEST, Checkpointer, load_checkpoint, prepare_output
from eqvl.train.batching import SameAsCaption
from eqvl.train.config import TrainConfig
from eqvl.train.defaults import resolve_lr
from eqvl.train.dataset import Augmenter, check_images, default_augmenter
from eqvl.distributed import DistInfo, any_rank, init_distributed, mean_over_ranks, shutdown
from eqvl.train.forward import forward_loss, sync_term_grads
from eqvl.train.guards import BufferSnapshot, NonFiniteGuard, grad_norm
from eqvl.train.probe import Probe
from eqvl.train.logs import MetricsLog, check_loggers
from eqvl.train.records import UNTYPED, DataReport
from eqvl.train.schedule import scheduled_lr, set_lr
from eqvl.train.setup import (DataPipeline, TrainState, build_data, build_loss, build_model, build_state, build_teacher,
                              read_rows, reconcile_resume, resolve_model, restore, seed_everything)

log = logging.getLogger(__name__)

__all__ = ["TrainResult", "train", "forward_loss", "DEFAULT_AUGMENTER"]

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
    #: optimiser steps skipped as non-finite (--skip-nonfinite); counted in `steps`, no update applied
    skipped: int = 0


def _unwrap(model: torch.nn.Module) -> Any:
    """The open_clip model under a DDP wrapper (open_clip ships no types: Any to the type checker)."""
    return model.module if hasattr(model, "module") else model


def train(cfg: TrainConfig, *, on_step: StepHook | None = None, on_eval: StepHook | None = None,
          augmenter: Augmenter | None | str = DEFAULT_AUGMENTER) -> TrainResult:
    """Train (or resume) as `cfg` says; returns where the checkpoints and metrics are.

    `on_step(record)` is called after every optimiser step with the step's logged values
    (loss parts, lr, samples/s, data-wait fraction); `on_eval(record)` after each evaluation
    (benchmarks and --val-data). `augmenter` makes hard negatives / positives a loss needs and the
    data lacks: the default is `eqvl.augment.augment_caption`; pass your own callable, or None to
    forbid generating them.
    """
    cfg.validate()
    cfg.loss_spec  # the loss and its options, checked before anything is built
    if isinstance(augmenter, str):
        augmenter = default_augmenter()
    owns_group = not torch.distributed.is_initialized()
    info = init_distributed(cfg.device)
    try:
        # one run per output folder: a second one gets "locked by pid N since ..." (rank 0 holds it)
        with OutputLock(cfg.output) if info.is_main else contextlib.nullcontext():
            return _Run(cfg, info, on_step, on_eval, augmenter).run()
    finally:
        if owns_group:
            shutdown()


class _Run:
    """One training run: set up, loop over epochs, checkpoint; holds what every part shares."""

    def __init__(self, cfg: TrainConfig, info: DistInfo, on_step: StepHook | None, on_eval: StepHook | None,
                 augmenter: Augmenter | None):
        self.cfg, self.info, self.on_step, self.on_eval, self.augmenter = cfg, info, on_step, on_eval, augmenter
        self.out = Path(cfg.output)
        self.log: MetricsLog | None = None
        self.val: Any = None
        self.interrupted = False
        self.guard = NonFiniteGuard(cfg.skip_nonfinite)
        self.probe = Probe()  # the first batch's pairs: every checkpoint must still score them finitely
        self.same = SameAsCaption()  # hard texts dropped as identical to their caption within the context

    def setup(self) -> None:
        """Cheap checks and data first, then the model, then the optimiser state (resumed if asked)."""
        info = self.info
        if info.is_main:
            check_loggers(self.cfg.loggers)  # a missing wandb / tensorboard fails before anything is loaded
        self.resume_path = prepare_output(self.cfg, info)
        probe = build_loss(self.cfg)  # bad loss flags fail here, before anything heavy is built
        seed_everything(self.cfg.seed)
        rows, report, has = read_rows(self.cfg.train_data, self.cfg)  # a broken file fails before the model loads
        if self.cfg.check_images:
            rows = check_images(rows, report, strict=not self.cfg.skip_bad)
        ckpt = load_checkpoint(self.resume_path) if self.resume_path is not None else None
        self.cfg, note = resolve_lr(self.cfg, ckpt)  # lr=None: a fine-tuning rate when weights are loaded
        if note and info.is_main:
            log.info(note, extra={"params": ("lr", "pretrained")})
        self.cfg = cfg = reconcile_resume(self.cfg, ckpt, str(self.resume_path)) if ckpt else resolve_model(self.cfg)
        self.bundle = build_model(cfg, info, resuming=ckpt is not None)
        self.teacher = build_teacher(cfg, info)  # --distill-model, frozen; None without distillation
        self.data: DataPipeline = build_data(cfg, info, self.bundle, probe, cfg.train_data, (rows, report, has),
                                             self.augmenter)
        self.steps_per_epoch = self.data.batches_per_epoch // cfg.accum_freq
        if self.steps_per_epoch < 1:
            raise EqvlError(f"one epoch has {self.data.batches_per_epoch} batches, fewer than `accum_freq` {cfg.accum_freq}", params=("accum_freq",))
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.max_steps = cfg.max_steps if cfg.max_steps is not None else self.total_steps
        loss_fn = build_loss(cfg, n_types=len(self.data.types)).to(info.device)
        loss_fn.train()
        self.state: TrainState = build_state(cfg, info, self.bundle.model, loss_fn)
        self.autocast = autocast_for(cfg.precision, info.device)
        self.input_dtype = input_dtype(cfg.precision)  # bf16 / fp16 weights take 16-bit images
        if ckpt is not None:
            restore(self.state, ckpt, str(self.resume_path), cfg, info, self.data.types)
        del ckpt
        if cfg.val_data and info.is_main:
            from eqvl.train.validation import build_validation

            self.val = build_validation(cfg, self.bundle, probe, self.data, self.augmenter)
        self.saver = Checkpointer(self.out / "checkpoints", cfg, info, self.state, self.bundle.model_name, self.data.types)
        self.saver.probe, self.saver.autocast = self.probe, self.autocast
        self.saver.export = getattr(self.bundle, "export", None)  # hf-itm: save_pretrained dirs beside epoch_N.pt

    def start_log(self) -> None:
        cfg, info, step = self.cfg, self.info, self.state.step
        if not info.is_main:
            return
        resumed = self.resume_path is not None
        wandb = None
        if "wandb" in cfg.loggers:
            wandb = {"project": cfg.wandb_project_name, "name": self.out.name, "dir": str(self.out.resolve()),
                     "config": cfg.to_dict()}
        self.log = MetricsLog(self.out / "metrics.jsonl", self.out / "tensorboard" if "tensorboard" in cfg.loggers else None,
                              resume_step=step if resumed else None, wandb=wandb)
        self.log.log({"event": "resume" if resumed else "start", "step": step, "data": self.data.report.to_dict(),
                      "world": info.world, "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps,
                      "negative_types": self.data.types, "config": cfg.to_dict()})
        log.info(self.data.report.summary())
        if cfg.loss_spec.uses_caption_types and self.data.types == [UNTYPED]:
            # CE-CLIP learns one margin per negative type; a file without types quietly gets one shared margin
            log.warning("`loss` %s: %s has no hard_negative_types, so every hard negative shares one 'untyped' CE "
                        "margin instead of one per type (eqvl augment writes the types)", cfg.loss, cfg.train_data,
                        extra={"params": ("loss",)})
        if resumed:
            log.info("resumed from %s at step %d", self.resume_path, step)

    def run(self) -> TrainResult:
        self.setup()
        if self.resume_path is not None and (self.state.step >= self.max_steps or self.state.start_epoch >= self.cfg.epochs):
            if self.info.is_main:  # a finished run: say so instead of "resumed ... at step N" and nothing
                log.info("%s is a finished run (step %d, epoch %d of `epochs` %d): nothing to train; raise `epochs` "
                         "or `max_steps` to go on", self.resume_path, self.state.step, self.state.start_epoch,
                         self.cfg.epochs, extra={"params": ("epochs", "max_steps")})
            return TrainResult(output_dir=self.out, final_checkpoint=None, data_report=self.data.report,
                               steps=self.state.step)
        self.start_log()
        final: Path | None = None
        self.window = (time.perf_counter(), 0.0, 0)  # (start, data wait, steps) since the last log line
        try:
            with self._interruptible():
                for epoch in range(self.state.start_epoch, self.cfg.epochs):
                    if self.state.step >= self.max_steps:
                        break
                    final, finished = self.run_epoch(epoch)
                    if not finished:
                        break
        except BaseException as exc:
            if self.log is not None:
                if isinstance(exc, KeyboardInterrupt):
                    self.log.log({"event": "interrupted", "step": self.state.step})
                self.log.close()
            raise
        if self.log is not None:
            self.log.log({"event": "end", "step": self.state.step, "skipped_nonfinite": self.guard.skipped,
                          "same_as_caption": {"negatives": self.same.negatives, "positives": self.same.positives},
                          "final_checkpoint": str(final) if final else None})
            self.log.close()
        return TrainResult(output_dir=self.out, final_checkpoint=final,
                           metrics=self.log.records if self.log is not None else [],
                           data_report=self.data.report, steps=self.state.step, skipped=self.guard.skipped)

    @contextlib.contextmanager
    def _interruptible(self):
        """The first Ctrl-C asks the loop to stop after the current step (and save); a second one quits."""
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            yield
            return

        def on_sigint(signum: int, frame: Any) -> None:
            self.interrupted = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
            if self.info.is_main:
                log.warning("stopping after this step to save a resumable checkpoint (Ctrl-C again: quit without it)")

        signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def run_epoch(self, epoch: int) -> tuple[Path | None, bool]:
        """Steps until the epoch's batches or --max-steps run out; checkpoints; returns (last saved, finished)."""
        cfg, info, state, data = self.cfg, self.info, self.state, self.data
        first = state.skip if epoch == state.start_epoch else 0
        data.dataset.set_epoch(epoch)
        data.sampler.set_epoch(epoch, first)
        per_epoch = len(data.sampler) + first  # the sampler's length excludes skipped batches
        loader = data_loader(data.dataset, batch_sampler=data.sampler, collate_fn=data.collate,
                             num_workers=cfg.workers, pin_memory=info.device.type == "cuda")
        it = iter(loader)
        consumed = first
        bar = progress_bar(total=self.steps_per_epoch, initial=first // cfg.accum_freq, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                           disable=not (info.is_main and cfg.progress), dynamic_ncols=True, leave=False)
        final: Path | None = None
        while consumed + cfg.accum_freq <= per_epoch and state.step < self.max_steps:
            values = self.train_step(it)
            consumed += cfg.accum_freq
            bar.update(1)
            end_of_epoch = consumed + cfg.accum_freq > per_epoch
            if values is not None and (state.step % cfg.log_every == 0 or self.on_step is not None
                                       or state.step == self.max_steps or end_of_epoch):
                self.record(values, epoch + consumed / per_epoch, bar)
            if any_rank([self.interrupted], info)[0]:
                self.interrupted = True
                break
            if cfg.save_every_steps and state.step % cfg.save_every_steps == 0 and consumed < per_epoch:
                final = self.saver.save([LATEST], epoch, consumed)
        bar.close()
        del it, loader
        if self.interrupted:
            self.stop_interrupted(epoch, consumed, per_epoch)
        if consumed + cfg.accum_freq <= per_epoch:  # stopped by --max-steps mid-epoch
            return self.saver.save([LATEST], epoch, consumed), False
        return self.end_epoch(epoch), True

    def end_epoch(self, epoch: int) -> Path:
        """epoch_N.pt (+ epoch_latest.pt), then --eval-benchmark and --val-data when due."""
        cfg, state = self.cfg, self.state
        last = epoch + 1 == cfg.epochs or state.step >= self.max_steps
        names = [LATEST]
        if (epoch + 1) % cfg.save_every_epochs == 0 or last:
            names = [f"epoch_{epoch + 1}.pt"] + ([LATEST] if cfg.save_most_recent else [])
        final = self.saver.save(names, epoch + 1, 0)
        due = (epoch + 1) % cfg.eval_every_epochs == 0 or last
        if cfg.eval_benchmark and due:
            from eqvl.train.periodic import evaluate_benchmarks

            evaluate_benchmarks(cfg, state.model, self.bundle, state.step, epoch + 1, self.log, self.on_eval, self.info)
        if cfg.val_data and ((epoch + 1) % cfg.val_frequency == 0 or last):
            self.validate(epoch + 1)
        return final

    def validate(self, epoch: int) -> None:
        """--val-data loss (rank 0), logged as `val/...`; the other ranks wait."""
        from eqvl.distributed import barrier

        if self.val is not None:
            from eqvl.train.validation import validation_loss

            rec = {"event": "val", "step": self.state.step, "epoch": epoch,
                   **validation_loss(self.val, self.state.model, self.state.loss_fn, self.cfg, self.info.device,
                                     self.state.step, self.autocast, self.input_dtype)}
            if self.log is not None:
                self.log.log(rec)
            log.info("validation at step %d: loss %.4f (%d rows)", self.state.step, rec["val/loss"], rec["val_rows"])
            if self.on_eval is not None:
                self.on_eval(rec)
        barrier(self.info)

    def stop_interrupted(self, epoch: int, consumed: int, per_epoch: int) -> None:
        """Ctrl-C: save where the run stands (a step boundary, so the resume is exact), say how to continue."""
        at_end = consumed + self.cfg.accum_freq > per_epoch
        path = self.saver.save([LATEST], epoch + 1 if at_end else epoch, 0 if at_end else consumed)
        if self.info.is_main:
            log.warning("interrupted at step %d; saved %s. To continue, run the same command with `resume` latest "
                        "(`output` %s)", self.state.step, path, self.cfg.output, extra={"params": ("resume", "output")})
        raise KeyboardInterrupt

    def train_step(self, it: Any) -> dict[str, torch.Tensor] | None:
        """`accum_freq` micro-batches, clip, checks, optimiser step; the step's mean loss parts
        (None when a non-finite step was skipped under --skip-nonfinite)."""
        cfg, info, state, data = self.cfg, self.info, self.state, self.data
        set_lr(state.optimizer, scheduled_lr(cfg, state.step, self.total_steps, self.steps_per_epoch))
        parts_acc: dict[str, torch.Tensor] = {}
        buffers = BufferSnapshot(state.model) if cfg.skip_nonfinite else None  # a skipped step moves no statistic
        total_acc: Any = 0.0
        for micro in range(cfg.accum_freq):
            t0 = time.perf_counter()
            batch = next(it)
            note = self.same.add(batch.same_as_caption)  # counted on the CPU, before the copy: no device sync
            if note and info.is_main:
                log.warning("step %d: %s", state.step + 1, note)
            batch = batch.to(info.device)
            batch.images = batch.images.to(self.input_dtype)
            self.probe.capture(batch)
            start, wait, steps = self.window
            self.window = (start, wait + time.perf_counter() - t0, steps)
            last = micro == cfg.accum_freq - 1 or not info.enabled
            ddp = state.ddp
            with ddp.no_sync() if not last and isinstance(ddp, DistributedDataParallel) else contextlib.nullcontext():
                total, parts = forward_loss(state.runner, state.loss_fn, batch, info, k=data.k, p=data.p, step=state.step,
                                            seed=cfg.seed, autocast=self.autocast, teacher=self.teacher)
                scaled = total / cfg.accum_freq
                (state.scaler.scale(scaled) if state.scaler is not None else scaled).backward()
            total_acc = total_acc + total.detach() / cfg.accum_freq
            for name, v in parts.items():
                parts_acc[name] = parts_acc.get(name, 0.0) + v.detach() / cfg.accum_freq
        values = {"loss": total_acc, **parts_acc}
        if not self.update(values):
            if buffers is not None:
                buffers.restore()
            return None
        return values

    def update(self, values: dict[str, torch.Tensor]) -> bool:
        """Clip, check every loss term and the gradient, then step (or skip a non-finite step)."""
        cfg, state = self.cfg, self.state
        sync_term_grads(state.loss_fn, self.info)
        params = list(state.model.parameters())
        if state.scaler is not None:
            if cfg.grad_clip_norm:
                state.scaler.unscale_(state.optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip_norm)
            norm = None  # fp16 overflow is the scaler's business: it skips such steps and lowers its scale
        else:
            norm = grad_norm(params, cfg.grad_clip_norm)
        what = self.guard.problem(values, norm)
        if any_rank([what is not None], self.info)[0]:
            self.guard.allow(state.step + 1, what or "loss or gradient on another process")
            state.optimizer.zero_grad(set_to_none=True)
            state.step += 1
            if self.log is not None:
                self.log.log({"event": "skipped_nonfinite", "step": state.step, "what": what,
                              "skipped": self.guard.skipped})
                log.warning("step %d: skipped, non-finite %s (%d/%d of `skip_nonfinite`)", state.step, what,
                            self.guard.skipped, cfg.skip_nonfinite, extra={"params": ("skip_nonfinite",)})
            return False
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
        return True

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
            # 3 significant digits: EqSim's raw means are ~1e-3 and would read 0.000 at a fixed 3 decimals
            bar.set_postfix({**{n: f"{v:.3g}" for n, v in values.items()},
                             "samples/s": f"{rec['samples_per_s']:.0f}", "wait": f"{rec['data_wait']:.0%}"})
        if self.on_step is not None:
            self.on_step(rec)
