"""The training loop: `train(cfg) -> TrainResult`.

One step = `accum_freq` micro-batches, each a global batch of `batch_size x world` pairs,
encoded in one forward ([captions; hard negatives; hard positives] as one text batch),
gathered with gradient across ranks, scored by the combined loss, back-propagated.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from eqvl.errors import EqvlError
from eqvl.losses import CombinedLoss, LossBatch, get_loss, parse_loss_spec
from eqvl.train.checkpoint import LATEST, find_resume, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from eqvl.train.config import TrainConfig
from eqvl.train.data import (Collate, DataReport, GlobalBatchSampler, PairDataset, _augmenter, data_kind, read_pairs,
                             type_vocabulary)
from eqvl.train.distributed import DistInfo, barrier, gather_no_grad, gather_with_grad, init_distributed, mean_over_ranks
from eqvl.train.logs import MetricsLog
from eqvl.train.schedule import cosine_lr, set_lr

StepHook = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    output_dir: Path
    final_checkpoint: Path | None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    data_report: DataReport | None = None
    steps: int = 0


def build_loss(cfg: TrainConfig, n_types: int = 1) -> CombinedLoss:
    """Instantiate each `+`-separated term with its flags."""
    kwargs = {
        "itc": dict(weight=cfg.itc_weight, hard_negatives=cfg.itc_hard_negatives),
        "eqsim": dict(beta=cfg.eqsim_beta, alpha=cfg.eqsim_alpha, k=cfg.eqsim_k, mode=cfg.eqsim_mode,
                      close=cfg.eqsim_close, norm=cfg.eqsim_norm),
        "ce": dict(rank_weight=cfg.ce_rank_weight, imc_weight=cfg.ce_imc_weight, tau_max=cfg.ce_tau_max, n_types=n_types),
        "hardpos": dict(weight=cfg.hardpos_weight, margin=cfg.hardpos_margin, margin_weight=cfg.hardpos_margin_weight),
    }
    return CombinedLoss({name: get_loss(name)(**kwargs.get(name, {})) for name in parse_loss_spec(cfg.loss)})


def _param_groups(model: torch.nn.Module, wd: float) -> list[dict[str, Any]]:
    """open_clip's split: no weight decay on gains, biases, norms, embeddings' scale and logit_scale."""
    def exclude(n: str, p: torch.nn.Parameter) -> bool:
        return p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
            {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": wd}]


def _autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext
    if device.type != "cuda":
        raise EqvlError(f"--precision {precision} needs a GPU; use fp32 on CPU")
    dtype = torch.bfloat16 if precision == "amp_bf16" else torch.float16
    return lambda: torch.autocast("cuda", dtype=dtype)


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


def train(cfg: TrainConfig, *, on_step: StepHook | None = None, on_eval: StepHook | None = None) -> TrainResult:
    """Train (or resume) as `cfg` says; returns where the checkpoints and metrics are.

    `on_step(record)` is called after every optimiser step with the step's logged values
    (loss parts, lr, samples/s, data-wait fraction); `on_eval(record)` after each evaluation.
    """
    cfg.validate()
    parse_loss_spec(cfg.loss)
    owns_group = not torch.distributed.is_initialized()
    info = init_distributed(cfg.device)
    try:
        return _train(cfg, info, on_step, on_eval)
    finally:
        if owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(cfg: TrainConfig, info: DistInfo, on_step: StepHook | None, on_eval: StepHook | None) -> TrainResult:
    out = Path(cfg.output)
    ckdir = out / "checkpoints"
    resume_path = find_resume(cfg.resume, out) if cfg.resume else None
    if resume_path is None and not cfg.overwrite and ckdir.is_dir() and any(ckdir.glob("*.pt")):
        raise EqvlError(f"{ckdir} already has checkpoints; pass --resume latest to continue or --overwrite to start over")
    if info.is_main and resume_path is None and (ckdir / LATEST).exists():
        (ckdir / LATEST).unlink()

    probe = build_loss(cfg)  # bad loss flags fail here, before anything heavy is built
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    torch.manual_seed(cfg.seed)

    # data first: a broken file should fail before a large model is loaded
    if data_kind(cfg.train_data, cfg.dataset_type) == "webdataset":
        from eqvl.train.shards import read_shards

        rows, report, has = read_shards(cfg.train_data, cfg)
    else:
        rows, report, has = read_pairs(cfg.train_data, cfg)

    from eqvl.models.openclip import create_openclip

    bundle = create_openclip(cfg.model, cfg.pretrained, seed=cfg.seed, device=str(info.device))
    model = bundle.model
    if cfg.lock_image:
        model.lock_image_tower(unlocked_groups=0, freeze_bn_stats=True)
    if cfg.lock_text:
        model.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)
    model.train()

    need_neg, need_pos = probe.needs_negatives, probe.needs_positives
    gen_neg, gen_pos = need_neg and not has["hard_negatives"], need_pos and not has["hard_positives"]
    if (gen_neg or gen_pos) and _augmenter() is None:
        missing = "hard_negatives" if gen_neg else "hard_positives"
        raise EqvlError(f"--loss {cfg.loss} needs {missing.replace('_', ' ')}, {cfg.train_data} has no {missing!r} column, "
                        "and eqvl.augment.augment_caption is not available to generate them")
    report.generated_negatives, report.generated_positives = gen_neg, gen_pos
    types = type_vocabulary(rows, gen_neg)
    k = (cfg.max_hard_negatives if gen_neg else min(cfg.max_hard_negatives, max(len(r.pair.hard_negatives) for r in rows))) if need_neg else 0
    p = (cfg.max_hard_positives if gen_pos else min(cfg.max_hard_positives, max(len(r.pair.hard_positives) for r in rows))) if need_pos else 0
    for needed, have, what in ((need_neg, k, "hard negatives"), (need_pos, p, "hard positives")):
        if needed and not have:
            raise EqvlError(f"--loss {cfg.loss} needs {what}, but no row of {cfg.train_data} has any "
                            f"(or --max-{what.replace(' ', '-')} is 0)")
    loss_fn = build_loss(cfg, n_types=len(types)).to(info.device)
    loss_fn.train()
    dataset = PairDataset(rows, bundle.preprocess_train if cfg.train_augment else bundle.preprocess_val,
                          negatives=need_neg, positives=need_pos, generate_negatives=gen_neg, generate_positives=gen_pos,
                          seed=cfg.order_seed, preload=cfg.preload, deterministic_transform=not cfg.train_augment,
                          max_negatives=cfg.max_hard_negatives, max_positives=cfg.max_hard_positives)
    collate = Collate(bundle.tokenizer, k, p, {t: i for i, t in enumerate(types)}, cache=cfg.preload)
    if cfg.batch_groups > 1 and report.n_bad:
        raise EqvlError(f"--batch-groups {cfg.batch_groups} keeps consecutive rows together, but {report.n_bad} rows of "
                        f"{cfg.train_data} were skipped, which would shift every later group; fix or drop them first")
    sampler = GlobalBatchSampler(len(dataset), cfg.batch_size, info.world, info.rank, cfg.order_seed, cfg.batch_groups)
    batches_per_epoch = len(sampler)
    steps_per_epoch = batches_per_epoch // cfg.accum_freq
    if steps_per_epoch < 1:
        raise EqvlError(f"one epoch has {batches_per_epoch} batches, fewer than --accum-freq {cfg.accum_freq}")
    total_steps = steps_per_epoch * cfg.epochs

    # foreach: one kernel per parameter group (torch only picks it by itself on GPU)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.wd), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                                  foreach=True)
    autocast = _autocast(cfg.precision, info.device)
    scaler = torch.amp.GradScaler("cuda") if cfg.precision in ("amp", "amp_fp16") else None
    ddp = model
    if info.enabled:
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[info.device.index] if info.device.type == "cuda" else None)

    step, start_epoch, skip = 0, 0, 0
    if resume_path is not None:
        ckpt = load_checkpoint(resume_path)
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        loss_fn.load_state_dict(ckpt.get("loss_state", {}), strict=False)
        set_rng_state(ckpt["rng"])
        step, start_epoch, skip = int(ckpt["step"]), int(ckpt["epoch"]), int(ckpt.get("batch_in_epoch", 0))
        was = ckpt.get("global_batch", cfg.batch_size * info.world)
        if skip and was != cfg.batch_size * info.world:
            raise EqvlError(f"{resume_path} stopped mid-epoch with a global batch of {was}; resume with the same "
                            f"--batch-size x processes (now {cfg.batch_size} x {info.world})")

    log = MetricsLog(out / "metrics.jsonl", out / "tensorboard" if cfg.tensorboard else None,
                     resume_step=step if resume_path is not None else None) if info.is_main else None
    if log is not None:
        log.log({"event": "resume" if resume_path else "start", "step": step, "data": report.to_dict(), "world": info.world,
                 "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "negative_types": types,
                 "config": cfg.to_dict()})
        print(f"eqvl train: {report.summary()}", file=sys.stderr)
        if resume_path is not None:
            print(f"eqvl train: resumed from {resume_path} at step {step}", file=sys.stderr)

    def payload(epoch: int, batch_in_epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "batch_in_epoch": batch_in_epoch, "global_batch": cfg.batch_size * info.world,
                "step": step, "name": bundle.model_name,
                "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else {}, "loss_state": loss_fn.state_dict(),
                "rng": rng_state(), "config": cfg.to_dict(), "negative_types": types}

    def save(names: list[str], epoch: int, batch_in_epoch: int) -> Path:
        if info.is_main:
            blob = payload(epoch, batch_in_epoch)
            for name in names:
                save_checkpoint(ckdir / name, blob)
        barrier(info)
        return ckdir / names[0]

    final: Path | None = None
    stop = False
    max_steps = cfg.max_steps if cfg.max_steps is not None else total_steps
    window_t, window_wait, window_steps = time.perf_counter(), 0.0, 0
    for epoch in range(start_epoch, cfg.epochs):
        if stop or step >= max_steps:
            break
        first = skip if epoch == start_epoch else 0
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch, first)
        loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.workers,
                            pin_memory=info.device.type == "cuda")
        it = iter(loader)
        consumed = first
        bar = tqdm(total=steps_per_epoch, initial=first // cfg.accum_freq, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not (info.is_main and cfg.progress), dynamic_ncols=True, leave=False)
        while consumed + cfg.accum_freq <= batches_per_epoch and step < max_steps:
            set_lr(optimizer, cosine_lr(step, cfg.lr, cfg.warmup, total_steps))
            parts_acc: dict[str, torch.Tensor] = {}
            total_acc = 0.0
            for micro in range(cfg.accum_freq):
                t0 = time.perf_counter()
                batch = next(it).to(info.device)
                window_wait += time.perf_counter() - t0
                sync = contextlib.nullcontext() if (micro == cfg.accum_freq - 1 or not info.enabled) else ddp.no_sync()
                with sync:
                    total, parts = forward_loss(ddp, loss_fn, batch, info, k=k, p=p, step=step, seed=cfg.seed, autocast=autocast)
                    scaled = total / cfg.accum_freq
                    (scaler.scale(scaled) if scaler is not None else scaled).backward()
                total_acc = total_acc + total.detach() / cfg.accum_freq
                for name, v in parts.items():
                    parts_acc[name] = parts_acc.get(name, 0.0) + v.detach() / cfg.accum_freq
            consumed += cfg.accum_freq
            if cfg.grad_clip_norm:
                if scaler is not None:
                    scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                _unwrap(model).logit_scale.clamp_(0, math.log(100))
            step += 1
            window_steps += 1
            bar.update(1)

            if step % cfg.log_every == 0 or on_step is not None or step == max_steps or consumed + cfg.accum_freq > batches_per_epoch:
                now = time.perf_counter()
                elapsed = max(now - window_t, 1e-9)
                values = {"loss": float(total_acc), **{n: float(v) for n, v in parts_acc.items()}}
                values = mean_over_ranks(values, info)
                rec = {"step": step, "epoch": epoch + consumed / batches_per_epoch,
                       "lr": optimizer.param_groups[0]["lr"], **values,
                       "logit_scale": float(_unwrap(model).logit_scale.detach().exp()),
                       "samples_per_s": window_steps * cfg.accum_freq * cfg.batch_size * info.world / elapsed,
                       "data_wait": window_wait / elapsed}
                window_t, window_wait, window_steps = now, 0.0, 0
                if log is not None:
                    log.log(rec)
                    bar.set_postfix({**{n: f"{v:.3f}" for n, v in values.items()},
                                     "samples/s": f"{rec['samples_per_s']:.0f}", "wait": f"{rec['data_wait']:.0%}"})
                if on_step is not None:
                    on_step(rec)
            if cfg.save_every_steps and step % cfg.save_every_steps == 0 and consumed < batches_per_epoch:
                final = save([LATEST], epoch, consumed)
        bar.close()
        del it, loader
        if consumed + cfg.accum_freq > batches_per_epoch:  # epoch finished
            last = epoch + 1 == cfg.epochs or step >= max_steps
            names = [LATEST]
            if (epoch + 1) % cfg.save_every_epochs == 0 or last:
                names.insert(0, f"epoch_{epoch + 1}.pt")
            final = save(names, epoch + 1, 0)
            if cfg.eval_benchmark and ((epoch + 1) % cfg.eval_every_epochs == 0 or last):
                _evaluate(cfg, model, bundle, step, epoch + 1, log, on_eval, info)
        else:
            stop = True
            final = save([LATEST], epoch, consumed)
    if log is not None:
        log.log({"event": "end", "step": step, "final_checkpoint": str(final) if final else None})
        log.close()
    return TrainResult(output_dir=out, final_checkpoint=final, metrics=log.records if log is not None else [],
                       data_report=report, steps=step)


def _evaluate(cfg: TrainConfig, model: torch.nn.Module, bundle: Any, step: int, epoch: int, log: MetricsLog | None,
              on_eval: StepHook | None, info: DistInfo) -> None:
    """Score the live model on each --eval-benchmark (rank 0), without writing a checkpoint."""
    if info.is_main:
        from eqvl.evaluate import evaluate
        from eqvl.models.openclip import OpenClipEncoder

        encoder = OpenClipEncoder.from_model(model, bundle.preprocess_val, bundle.tokenizer, name=cfg.model,
                                             pretrained=f"{cfg.output}@step{step}")
        model.eval()
        try:
            rec: dict[str, Any] = {"event": "eval", "step": step, "epoch": epoch}
            for spec in cfg.eval_benchmark:
                name, path = spec.split(":", 1)
                with torch.no_grad():
                    res = evaluate(encoder, name, path, batch_size=cfg.eval_batch_size, progress=False)
                for metric, value in res.results.get("metrics", {}).items():
                    if isinstance(value, (int, float)):
                        rec[f"eval/{name}/{metric}"] = float(value)
        finally:
            model.train()
        if log is not None:
            log.log(rec)
            print(f"eqvl train: eval at step {step}: " + ", ".join(f"{k[5:]}={v:.3f}" for k, v in rec.items()
                                                                   if k.startswith("eval/")), file=sys.stderr)
        if on_eval is not None:
            on_eval(rec)
    barrier(info)
